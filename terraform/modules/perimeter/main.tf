/**
 * A VPC Service Controls perimeter around the token broker's project.
 *
 * The same configuration is written either to `spec` (dry run, the default: violations are
 * logged, nothing is blocked) or to `status` (enforced). Ingress and egress rules are data
 * (local.ingress_policies / local.egress_policies) rendered by the same dynamic blocks in both.
 */

locals {
  policy_id = trimprefix(var.access_policy_name, "accessPolicies/")
  parent    = "accessPolicies/${local.policy_id}"

  broker_project = "projects/${var.project_number}"
  resources = distinct(concat(
    [local.broker_project],
    [for n in var.additional_project_numbers : "projects/${n}"],
  ))

  broker_identity = "serviceAccount:${var.broker_service_account}"

  ingress_policies = concat(
    # The broker's own calls (IAM Credentials, STS, Firestore, KMS, Secret Manager, Logging).
    # Calls from a function without VPC egress through the perimeter's network are evaluated
    # as coming from outside; this admits them for the runtime identity only.
    [{
      title         = "broker-runtime"
      identities    = [local.broker_identity]
      identity_type = null
      access_levels = var.identity_access_levels
      resources     = ["*"]
      services      = var.broker_services
    }],
    # Callers outside the perimeter use the minted tokens (which carry the target service
    # accounts' identities) against the model API inside the perimeter.
    length(var.target_service_accounts) == 0 ? [] : [{
      title         = "broker-issued-tokens"
      identities    = [for sa in var.target_service_accounts : "serviceAccount:${sa}"]
      identity_type = null
      access_levels = var.identity_access_levels
      resources     = ["*"]
      services      = var.target_services
    }],
    # Invoking the broker function from outside. VPC Service Controls does not use the
    # caller's IAM identity for Cloud Run invocations, so identities cannot be listed here:
    # ANY_IDENTITY, narrowed by source (access levels) and to the broker project only.
    var.allow_external_invocation ? [{
      title         = "external-invocation"
      identities    = null
      identity_type = "ANY_IDENTITY"
      access_levels = var.invocation_access_levels
      resources     = [local.broker_project]
      services      = ["run.googleapis.com"]
    }] : [],
    # Terraform / CI managing the broker from outside the perimeter.
    length(var.deployer_identities) == 0 ? [] : [{
      title         = "deployers"
      identities    = var.deployer_identities
      identity_type = null
      access_levels = ["*"]
      resources     = ["*"]
      services      = var.restricted_services
    }],
  )

  egress_policies = length(var.egress_project_numbers) == 0 ? [] : [{
    title      = "broker-mint-outside"
    identities = [local.broker_identity]
    resources  = [for n in var.egress_project_numbers : "projects/${n}"]
    services   = ["iamcredentials.googleapis.com"]
  }]

  config = {
    resources               = local.resources
    restricted_services     = var.restricted_services
    vpc_accessible_services = var.restrict_vpc_accessible_services ? [concat(["RESTRICTED-SERVICES"], var.vpc_accessible_services)] : []
    ingress_policies        = local.ingress_policies
    egress_policies         = local.egress_policies
  }
}

resource "google_access_context_manager_service_perimeter" "this" {
  parent         = local.parent
  name           = "${local.parent}/servicePerimeters/${var.perimeter_name}"
  title          = var.title
  description    = var.description
  perimeter_type = "PERIMETER_TYPE_REGULAR"

  # Dry run: the configuration lives in `spec` only and `status` stays empty, so nothing is
  # enforced until dry_run is turned off.
  use_explicit_dry_run_spec = var.dry_run

  dynamic "status" {
    for_each = var.dry_run ? [] : [local.config]
    content {
      resources           = status.value.resources
      restricted_services = status.value.restricted_services

      dynamic "vpc_accessible_services" {
        for_each = status.value.vpc_accessible_services
        content {
          enable_restriction = true
          allowed_services   = vpc_accessible_services.value
        }
      }

      dynamic "ingress_policies" {
        for_each = status.value.ingress_policies
        iterator = policy
        content {
          title = policy.value.title
          ingress_from {
            identities    = policy.value.identities
            identity_type = policy.value.identity_type
            dynamic "sources" {
              for_each = policy.value.access_levels
              content {
                access_level = sources.value
              }
            }
          }
          ingress_to {
            resources = policy.value.resources
            dynamic "operations" {
              for_each = policy.value.services
              content {
                service_name = operations.value
                method_selectors {
                  method = "*"
                }
              }
            }
          }
        }
      }

      dynamic "egress_policies" {
        for_each = status.value.egress_policies
        iterator = policy
        content {
          title = policy.value.title
          egress_from {
            identities = policy.value.identities
          }
          egress_to {
            resources = policy.value.resources
            dynamic "operations" {
              for_each = policy.value.services
              content {
                service_name = operations.value
                method_selectors {
                  method = "*"
                }
              }
            }
          }
        }
      }
    }
  }

  dynamic "spec" {
    for_each = var.dry_run ? [local.config] : []
    content {
      resources           = spec.value.resources
      restricted_services = spec.value.restricted_services

      dynamic "vpc_accessible_services" {
        for_each = spec.value.vpc_accessible_services
        content {
          enable_restriction = true
          allowed_services   = vpc_accessible_services.value
        }
      }

      dynamic "ingress_policies" {
        for_each = spec.value.ingress_policies
        iterator = policy
        content {
          title = policy.value.title
          ingress_from {
            identities    = policy.value.identities
            identity_type = policy.value.identity_type
            dynamic "sources" {
              for_each = policy.value.access_levels
              content {
                access_level = sources.value
              }
            }
          }
          ingress_to {
            resources = policy.value.resources
            dynamic "operations" {
              for_each = policy.value.services
              content {
                service_name = operations.value
                method_selectors {
                  method = "*"
                }
              }
            }
          }
        }
      }

      dynamic "egress_policies" {
        for_each = spec.value.egress_policies
        iterator = policy
        content {
          title = policy.value.title
          egress_from {
            identities = policy.value.identities
          }
          egress_to {
            resources = policy.value.resources
            dynamic "operations" {
              for_each = policy.value.services
              content {
                service_name = operations.value
                method_selectors {
                  method = "*"
                }
              }
            }
          }
        }
      }
    }
  }
}
