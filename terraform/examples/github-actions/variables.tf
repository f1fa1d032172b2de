variable "project_id" {
  description = "Project to deploy the broker into."
  type        = string
}

variable "region" {
  description = "Region of the broker."
  type        = string
  default     = "europe-west1"
}

variable "source_archive_path" {
  description = "The broker archive built as described in terraform/README.md."
  type        = string
  default     = "../../../broker.zip"
}

variable "github_org" {
  description = "The GitHub organisation (repository_owner claim), e.g. acme."
  type        = string

  validation {
    # It is pasted into CEL string literals: GitHub login characters only.
    condition     = can(regex("^[A-Za-z0-9](-?[A-Za-z0-9]){0,38}$", var.github_org))
    error_message = "github_org must be a GitHub organisation login (letters, digits, single hyphens)."
  }
}

variable "github_org_id" {
  description = "The organisation's immutable numeric id (repository_owner_id claim; `gh api orgs/ORG --jq .id`). Names can be renamed and re-registered by someone else; ids cannot."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{1,20}$", var.github_org_id))
    error_message = "github_org_id must be the numeric organisation id, as a string."
  }
}

variable "repositories" {
  description = "Repositories whose workflows may call Gemini through the broker: full name => numeric repository id (`gh api repos/ORG/REPO --jq .id`)."
  type        = map(string)

  validation {
    condition     = length(var.repositories) > 0 && alltrue([for name, id in var.repositories : can(regex("^[A-Za-z0-9-]+/[A-Za-z0-9_.-]+$", name)) && can(regex("^[0-9]{1,20}$", id))])
    error_message = "repositories must map OWNER/REPO names to numeric repository ids (strings)."
  }
}

variable "default_branch" {
  description = "Branch whose push, schedule and workflow_dispatch runs get the main rule."
  type        = string
  default     = "main"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]{1,200}$", var.default_branch))
    error_message = "default_branch must be a plain branch name."
  }
}

variable "allow_pull_requests" {
  description = "Also allow pull_request runs that target default_branch (e.g. AI review), with a shorter lifetime and lower limits. Pull requests from forks get no OIDC token from GitHub."
  type        = bool
  default     = true
}

variable "deployer" {
  description = "Optional: let one repository's workflows deploy this Terraform keylessly through Workload Identity Federation (google-github-actions/auth). service_account_email is an existing account holding the deployment roles; repository_id is the numeric id of the infrastructure repository."
  type = object({
    service_account_email = string
    repository_id         = string
  })
  default = null

  validation {
    condition     = var.deployer == null || can(regex("^[0-9]{1,20}$", try(var.deployer.repository_id, "")))
    error_message = "deployer.repository_id must be a numeric repository id."
  }
}
