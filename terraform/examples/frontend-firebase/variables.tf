variable "project_id" {
  description = "Project to deploy the broker into (and, by default, the Firebase project)."
  type        = string
}

variable "region" {
  description = "Region of the broker, and the Vertex AI location the page calls."
  type        = string
  default     = "europe-west1"
}

variable "source_archive_path" {
  description = "The broker archive built as described in terraform/README.md."
  type        = string
  default     = "../../../broker.zip"
}

variable "firebase_project_id" {
  description = "Firebase project whose Auth users may get tokens (the ID tokens' audience). null: project_id."
  type        = string
  default     = null

  validation {
    condition     = var.firebase_project_id == null || can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", coalesce(var.firebase_project_id, "x")))
    error_message = "firebase_project_id must be a project id."
  }
}

variable "allowed_origins" {
  description = "Origins of the web app (scheme://host[:port], no path) whose pages may call the broker. Requests with any other Origin are refused."
  type        = list(string)

  validation {
    condition     = length(var.allowed_origins) > 0 && alltrue([for o in var.allowed_origins : can(regex("^https://[a-z0-9.-]+(:[0-9]{1,5})?$", o)) || can(regex("^http://localhost(:[0-9]{1,5})?$", o))])
    error_message = "allowed_origins must be https origins without a path (http://localhost[:port] is accepted for development)."
  }
}

variable "sign_in_providers" {
  description = "Firebase sign-in providers whose users may get tokens (firebase.sign_in_provider claim). An allowlist: anonymous and custom-token users stay out unless named."
  type        = list(string)
  default     = ["google.com", "password"]

  validation {
    condition     = length(var.sign_in_providers) > 0 && alltrue([for p in var.sign_in_providers : can(regex("^[a-z0-9.]+$", p))])
    error_message = "sign_in_providers must be provider ids such as google.com, password, apple.com."
  }
}

variable "limits_per_user" {
  description = "Rate limit and daily budget per signed-in user (Firebase uid), across all broker instances."
  type = object({
    requests_per_minute = optional(number, 10)
    tokens_per_day      = optional(number, 500)
  })
  default  = {}
  nullable = false

  validation {
    condition     = var.limits_per_user.requests_per_minute >= 1 && var.limits_per_user.tokens_per_day >= 1
    error_message = "limits_per_user values must be at least 1."
  }
}

variable "web_apps" {
  description = "Web apps the broker signs users in for (the policy's web_apps; user sign-in with the broker as the confidential OAuth client). The broker module creates an empty Secret Manager secret per app for its OAuth client secret; add the value with `gcloud secrets versions add`. Empty: no web app sign-in."
  type = list(object({
    id        = string
    secret_id = optional(string)
  }))
  default  = []
  nullable = false
}
