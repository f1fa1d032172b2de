variable "project_id" {
  description = "Project that holds the workload identity pool."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID (6-30 lower-case letters, digits and hyphens)."
  }
}

variable "pool_id" {
  description = "Workload identity pool id. Pools are soft-deleted for 30 days: a destroyed id cannot be reused at once."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9-]{4,32}$", var.pool_id)) && !startswith(var.pool_id, "gcp-")
    error_message = "pool_id must be 4-32 lower-case letters, digits and hyphens, and must not start with gcp-."
  }
}

variable "pool_display_name" {
  description = "Display name of the pool (at most 32 characters). Defaults to pool_id."
  type        = string
  default     = null

  validation {
    condition     = var.pool_display_name == null || length(coalesce(var.pool_display_name, "x")) <= 32
    error_message = "pool_display_name must be at most 32 characters."
  }
}

variable "pool_description" {
  description = "Description of the pool."
  type        = string
  default     = "External workloads federated by OIDC; every provider carries an attribute_condition."
}

variable "enable_apis" {
  description = "Enable iam, sts and iamcredentials (never disabled on destroy)."
  type        = bool
  default     = true
}

# "providers" is a reserved variable name in Terraform (it is a meta-argument of module
# blocks), hence oidc_providers.
variable "oidc_providers" {
  description = <<-EOT
    OIDC providers of the pool, keyed by provider id. Every entry needs an attribute_condition that pins
    the issuer's tenants to yours (see the README for GitHub, GitLab and Kubernetes presets).
    attribute_mapping must map google.subject. allowed_audiences defaults (null) to the provider's own
    resource name, //iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/ID.
    jwks_json holds the issuer's public keys for issuers Google cannot reach (private clusters).
  EOT
  type = map(object({
    issuer_uri          = string
    allowed_audiences   = optional(list(string))
    attribute_mapping   = map(string)
    attribute_condition = string
    display_name        = optional(string)
    description         = optional(string)
    jwks_json           = optional(string)
    disabled            = optional(bool, false)
  }))
  nullable = false

  validation {
    condition     = length(var.oidc_providers) > 0
    error_message = "oidc_providers must define at least one provider."
  }

  validation {
    condition = alltrue([
      for p in values(var.oidc_providers) :
      try(length(trimspace(p.attribute_condition)) > 0 && !contains(["true", "(true)"], lower(replace(p.attribute_condition, " ", ""))), false)
    ])
    error_message = "Every provider needs a real attribute_condition. Without one, every identity the issuer vouches for can use the pool: on a multi-tenant issuer (token.actions.githubusercontent.com, gitlab.com) that is every repository or project in the world, since anyone can mint a token there for any audience they like. Pin your owner or namespace, preferably by immutable id, e.g. assertion.repository_owner_id == '1342004' && assertion.repository_owner == 'acme'."
  }

  validation {
    condition     = alltrue([for p in values(var.oidc_providers) : contains(keys(p.attribute_mapping), "google.subject")])
    error_message = "Every provider's attribute_mapping must map google.subject (e.g. \"google.subject\" = \"assertion.sub\")."
  }

  validation {
    condition     = alltrue([for p in values(var.oidc_providers) : startswith(p.issuer_uri, "https://")])
    error_message = "issuer_uri must be an https URL."
  }

  validation {
    condition     = alltrue([for k in keys(var.oidc_providers) : can(regex("^[a-z0-9-]{4,32}$", k)) && !startswith(k, "gcp-")])
    error_message = "oidc_providers keys are provider ids: 4-32 lower-case letters, digits and hyphens, not starting with gcp-."
  }

  validation {
    condition     = alltrue([for p in values(var.oidc_providers) : p.display_name == null || length(coalesce(p.display_name, "x")) <= 32])
    error_message = "A provider's display_name must be at most 32 characters."
  }

  validation {
    condition     = alltrue([for p in values(var.oidc_providers) : p.allowed_audiences == null || length(coalesce(p.allowed_audiences, [])) > 0])
    error_message = "allowed_audiences must be null (the provider's default audience) or non-empty."
  }
}

variable "service_account_bindings" {
  description = <<-EOT
    roles/iam.workloadIdentityUser on specific service accounts for the identities of the pool whose mapped
    attribute `attribute` equals `value`, i.e. the member
    principalSet://iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/attribute.ATTRIBUTE/VALUE.
    The attribute must be mapped (attribute.ATTRIBUTE) by at least one provider. The whole pool (*) is never bound.
  EOT
  type = map(object({
    service_account_id = string
    attribute          = string
    value              = string
  }))
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for b in values(var.service_account_bindings) : can(regex("^projects/[^/]+/serviceAccounts/[^/]+@[^/]+$", b.service_account_id))])
    error_message = "service_account_id must be projects/PROJECT/serviceAccounts/EMAIL (the name attribute of a google_service_account)."
  }

  validation {
    condition     = alltrue([for b in values(var.service_account_bindings) : can(regex("^[a-z_][a-z0-9_]{0,99}$", b.attribute)) && length(b.value) > 0 && b.value != "*"])
    error_message = "attribute must be a mapped attribute name without the attribute. prefix (e.g. repository), and value a non-empty value other than *."
  }
}
