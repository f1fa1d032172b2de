locals {
  # One entry per web app the broker signs users in for, keyed by the web app id (the policy's
  # web_apps[].id). Keys come from the variable, so they are known at plan time.
  web_apps = {
    for app in var.web_apps : app.id => {
      secret_id = coalesce(app.secret_id, "${var.name}-webapp-${app.id}")
    }
  }

  # What the policy's web_apps[].client_secret_ref holds. Built from inputs only, so a policy
  # template can use it before apply (the same way it uses the target service account emails).
  web_app_client_secret_refs = {
    for id, app in local.web_apps : id => "projects/${var.project_id}/secrets/${app.secret_id}/versions/latest"
  }

  # Secrets of the project the module already uses for something else.
  reserved_secret_ids = compact([
    local.policy_secret_id,
    try(coalesce(var.gemini_api_key_secret.project, var.project_id) == var.project_id ? var.gemini_api_key_secret.secret_id : "", ""),
  ])
}

# The OAuth client secret of each web app the broker is the confidential client for. The secret
# is created empty: its value never passes through Terraform (nor its state). The operator adds
# it with `gcloud secrets versions add SECRET_ID --data-file=-`, and the broker reads the latest
# version at run time through the Secret Manager API. Replicated like the policy secret.
resource "google_secret_manager_secret" "web_app" {
  for_each = local.web_apps

  project   = var.project_id
  secret_id = each.value.secret_id
  labels    = var.labels

  replication {
    dynamic "auto" {
      for_each = var.policy_secret.replica_locations == null ? [1] : []
      content {}
    }

    dynamic "user_managed" {
      for_each = var.policy_secret.replica_locations == null ? [] : [1]
      content {
        dynamic "replicas" {
          for_each = var.policy_secret.replica_locations
          content {
            location = replicas.value
          }
        }
      }
    }
  }

  lifecycle {
    precondition {
      condition     = !contains(local.reserved_secret_ids, each.value.secret_id)
      error_message = "web_apps[\"${each.key}\"]: secret ${each.value.secret_id} is the policy secret or the Gemini API key secret; give the web app its own secret_id."
    }

    precondition {
      condition     = length([for app in values(local.web_apps) : app if app.secret_id == each.value.secret_id]) == 1
      error_message = "web_apps[\"${each.key}\"]: secret ${each.value.secret_id} is used by more than one web app; each web app needs its own secret."
    }
  }

  depends_on = [google_project_service.apis]
}

# Read access for the broker's runtime service account, on each web app secret only (never
# project-wide: a project grant would open every secret of the project to the broker).
resource "google_secret_manager_secret_iam_member" "runtime_web_app_accessor" {
  for_each = local.web_apps

  project   = var.project_id
  secret_id = google_secret_manager_secret.web_app[each.key].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.runtime.member
}
