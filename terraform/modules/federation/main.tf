locals {
  apis = toset(["iam.googleapis.com", "iamcredentials.googleapis.com", "sts.googleapis.com"])

  mapped_attributes = toset(flatten([for p in values(var.oidc_providers) : keys(p.attribute_mapping)]))

  # principalSet://iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL
  principal_set_prefix = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.pool.name}"
}

resource "google_project_service" "apis" {
  for_each = var.enable_apis ? local.apis : toset([])

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

resource "google_iam_workload_identity_pool" "pool" {
  project                   = var.project_id
  workload_identity_pool_id = var.pool_id
  display_name              = coalesce(var.pool_display_name, var.pool_id)
  description               = var.pool_description

  depends_on = [google_project_service.apis]
}

resource "google_iam_workload_identity_pool_provider" "oidc" {
  for_each = var.oidc_providers

  project                            = var.project_id
  workload_identity_pool_id          = google_iam_workload_identity_pool.pool.workload_identity_pool_id
  workload_identity_pool_provider_id = each.key
  display_name                       = coalesce(each.value.display_name, each.key)
  description                        = each.value.description
  disabled                           = each.value.disabled
  attribute_mapping                  = each.value.attribute_mapping
  # Same language (CEL) and same `assertion` variable as the broker's rule conditions.
  attribute_condition = each.value.attribute_condition

  oidc {
    issuer_uri        = each.value.issuer_uri
    allowed_audiences = each.value.allowed_audiences
    jwks_json         = each.value.jwks_json
  }
}

resource "google_service_account_iam_member" "workload_identity_user" {
  for_each = var.service_account_bindings

  service_account_id = each.value.service_account_id
  role               = "roles/iam.workloadIdentityUser"
  member             = "${local.principal_set_prefix}/attribute.${each.value.attribute}/${each.value.value}"

  lifecycle {
    precondition {
      condition     = contains(local.mapped_attributes, "attribute.${each.value.attribute}")
      error_message = "service_account_bindings[\"${each.key}\"]: no provider maps attribute.${each.value.attribute}, so the binding would never match anyone."
    }
  }

  # The providers (and their conditions) must exist before anything is bound to the pool.
  depends_on = [google_iam_workload_identity_pool_provider.oidc]
}
