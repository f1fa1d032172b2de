variable "access_policy_name" {
  description = "The Access Context Manager policy that holds the perimeter: `accessPolicies/NUMBER` or just NUMBER."
  type        = string

  validation {
    condition     = can(regex("^(accessPolicies/)?[0-9]+$", var.access_policy_name))
    error_message = "access_policy_name must be accessPolicies/NUMBER or NUMBER."
  }
}

variable "perimeter_name" {
  description = "Short name of the perimeter (the last segment of accessPolicies/P/servicePerimeters/NAME): letters, digits and underscores, starting with a letter."
  type        = string
  default     = "token_broker"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_]{0,49}$", var.perimeter_name))
    error_message = "perimeter_name must start with a letter and hold at most 50 letters, digits or underscores."
  }
}

variable "title" {
  description = "Human-readable title of the perimeter."
  type        = string
  default     = "token-broker"
}

variable "description" {
  description = "Description of the perimeter."
  type        = string
  default     = "Service perimeter around the token broker project: the token minting APIs, the token cache and the model APIs it fronts."
}

variable "project_number" {
  description = "Project NUMBER (not the id) of the broker project; the perimeter protects projects/NUMBER."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{6,20}$", var.project_number))
    error_message = "project_number must be the numeric project number, not the project id."
  }
}

variable "additional_project_numbers" {
  description = "Numbers of other projects to put in the same perimeter (for example the project that holds the target service accounts, or the Vertex AI project)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for n in var.additional_project_numbers : can(regex("^[0-9]{6,20}$", n))])
    error_message = "additional_project_numbers must hold numeric project numbers."
  }
}

variable "dry_run" {
  description = "true (default): the configuration goes into the dry-run `spec` with use_explicit_dry_run_spec = true, so violations are only logged (\"dry run\" in the audit log) and nothing is blocked. false: the same configuration is enforced (`status`). Roll out with true, read the violations, then switch."
  type        = bool
  default     = true
}

variable "restricted_services" {
  description = "Services the perimeter restricts. Must contain at least the broker's own APIs and the model API it fronts; see README for why generativelanguage.googleapis.com is refused."
  type        = list(string)
  default = [
    "aiplatform.googleapis.com",
    "iamcredentials.googleapis.com",
    "sts.googleapis.com",
    "firestore.googleapis.com",
    "cloudkms.googleapis.com",
    "secretmanager.googleapis.com",
    "logging.googleapis.com",
    "cloudfunctions.googleapis.com",
    "run.googleapis.com",
  ]

  validation {
    condition = alltrue([
      for s in [
        "aiplatform.googleapis.com",
        "iamcredentials.googleapis.com",
        "sts.googleapis.com",
        "firestore.googleapis.com",
        "cloudkms.googleapis.com",
        "secretmanager.googleapis.com",
        "logging.googleapis.com",
      ] : contains(var.restricted_services, s)
    ])
    error_message = "restricted_services must include aiplatform, iamcredentials, sts, firestore, cloudkms, secretmanager and logging (.googleapis.com)."
  }

  validation {
    condition     = alltrue([for s in var.restricted_services : can(regex("^[a-z][a-z0-9-]*(\\.[a-z0-9-]+)*\\.googleapis\\.com$", s))])
    error_message = "Each restricted service must be an API host name such as aiplatform.googleapis.com."
  }

  validation {
    condition     = !contains(var.restricted_services, "generativelanguage.googleapis.com")
    error_message = "generativelanguage.googleapis.com (Gemini Developer API) is not supported by VPC Service Controls and cannot be restricted: reach Gemini through Vertex AI (aiplatform.googleapis.com) inside the perimeter."
  }
}

variable "restrict_vpc_accessible_services" {
  description = "Limit what VPC networks inside the perimeter may call to the restricted services (RESTRICTED-SERVICES) plus vpc_accessible_services. Keeps workloads on the perimeter's networks from reaching unprotected APIs such as generativelanguage.googleapis.com."
  type        = bool
  default     = true
}

variable "vpc_accessible_services" {
  description = "Services, besides the restricted ones, that VPC networks in the perimeter may still call when restrict_vpc_accessible_services is true."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.vpc_accessible_services : can(regex("^[a-z][a-z0-9-]*(\\.[a-z0-9-]+)*\\.googleapis\\.com$", s))])
    error_message = "Each VPC-accessible service must be an API host name such as storage.googleapis.com."
  }
}

variable "broker_service_account" {
  description = "E-mail of the broker function's runtime service account."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9-]+\\.iam\\.gserviceaccount\\.com$", var.broker_service_account))
    error_message = "broker_service_account must be a user-managed service account e-mail (NAME@PROJECT.iam.gserviceaccount.com)."
  }
}

variable "broker_services" {
  description = "Services the broker's runtime service account uses (ingress rule `broker-runtime`, for calls the perimeter sees as coming from outside, e.g. a function without VPC egress)."
  type        = list(string)
  default = [
    "iamcredentials.googleapis.com",
    "sts.googleapis.com",
    "firestore.googleapis.com",
    "cloudkms.googleapis.com",
    "secretmanager.googleapis.com",
    "logging.googleapis.com",
  ]

  validation {
    condition     = length(var.broker_services) > 0 && alltrue([for s in var.broker_services : can(regex("^[a-z][a-z0-9-]*(\\.[a-z0-9-]+)*\\.googleapis\\.com$", s))])
    error_message = "broker_services must list API host names such as iamcredentials.googleapis.com."
  }
}

variable "target_service_accounts" {
  description = "E-mails of the service accounts the broker mints tokens for. Callers outside the perimeter present those tokens to target_services; an ingress rule lets exactly these identities in."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for sa in var.target_service_accounts : can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9-]+\\.iam\\.gserviceaccount\\.com$", sa))])
    error_message = "target_service_accounts must hold user-managed service account e-mails (NAME@PROJECT.iam.gserviceaccount.com)."
  }
}

variable "target_services" {
  description = "Services the target service accounts' tokens may reach from outside the perimeter."
  type        = list(string)
  default     = ["aiplatform.googleapis.com"]

  validation {
    condition     = alltrue([for s in var.target_services : can(regex("^[a-z][a-z0-9-]*(\\.[a-z0-9-]+)*\\.googleapis\\.com$", s))])
    error_message = "target_services must list API host names such as aiplatform.googleapis.com."
  }

  validation {
    condition     = !contains(var.target_services, "iamcredentials.googleapis.com") && !contains(var.target_services, "sts.googleapis.com")
    error_message = "target_services must not open iamcredentials or sts to the target identities: only the broker mints tokens."
  }
}

variable "identity_access_levels" {
  description = "Sources from which the broker and target identities may enter: access level names (accessPolicies/P/accessLevels/L) or [\"*\"] for any source. The identities are still the only ones admitted."
  type        = list(string)
  default     = ["*"]

  validation {
    condition     = length(var.identity_access_levels) > 0 && alltrue([for l in var.identity_access_levels : l == "*" || can(regex("^accessPolicies/[0-9]+/accessLevels/[A-Za-z0-9_]+$", l))])
    error_message = "identity_access_levels must be non-empty and hold \"*\" or accessPolicies/P/accessLevels/NAME."
  }
}

variable "allow_external_invocation" {
  description = "Add the `external-invocation` ingress rule so callers outside the perimeter can reach the broker function's URL once run.googleapis.com is restricted. Without it every token request from outside fails with a VPC Service Controls 403."
  type        = bool
  default     = true
}

variable "invocation_access_levels" {
  description = "Sources allowed to invoke the broker function from outside: access level names (e.g. your CI runners' IP ranges) or [\"*\"] for the internet. Cloud Run invocation cannot be filtered by identity in VPC Service Controls, so this is the only narrowing available; the broker still authenticates every request."
  type        = list(string)
  default     = ["*"]

  validation {
    condition     = length(var.invocation_access_levels) > 0 && alltrue([for l in var.invocation_access_levels : l == "*" || can(regex("^accessPolicies/[0-9]+/accessLevels/[A-Za-z0-9_]+$", l))])
    error_message = "invocation_access_levels must be non-empty and hold \"*\" or accessPolicies/P/accessLevels/NAME."
  }
}

variable "deployer_identities" {
  description = "Principals (serviceAccount:..., user:..., group:...) that deploy and manage the broker from outside the perimeter (Terraform, CI). They get an ingress rule to every restricted service of the broker project."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.deployer_identities : can(regex("^(serviceAccount|user|group|principal|principalSet):.+$", m))])
    error_message = "deployer_identities must be IAM principals such as serviceAccount:terraform@PROJECT.iam.gserviceaccount.com."
  }
}

variable "egress_project_numbers" {
  description = "Numbers of projects outside the perimeter that hold target service accounts. The broker's runtime service account may call IAM Credentials on them (egress rule `broker-mint-outside`)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for n in var.egress_project_numbers : can(regex("^[0-9]{6,20}$", n))])
    error_message = "egress_project_numbers must hold numeric project numbers."
  }
}
