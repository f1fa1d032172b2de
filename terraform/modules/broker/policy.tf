locals {
  policy_secret_id = coalesce(var.policy_secret.secret_id, "${var.name}-policy")
}

# The trust policy lives in Secret Manager, not in the source archive: it can change without a
# rebuild, it holds client-secret and API-key hashes and maps who may obtain which service
# account, and every version stays on record.
resource "google_secret_manager_secret" "policy" {
  project   = var.project_id
  secret_id = local.policy_secret_id
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

  depends_on = [google_project_service.apis]
}

# A changed policy_yaml replaces this version: the new one is created first, the function is
# redeployed with it pinned, then the old one is disabled (kept for the record and for rollback).
resource "google_secret_manager_secret_version" "policy" {
  secret          = google_secret_manager_secret.policy.id
  secret_data     = var.policy_yaml
  deletion_policy = "DISABLE"

  lifecycle {
    create_before_destroy = true
  }
}

resource "google_secret_manager_secret_iam_member" "runtime_policy_accessor" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.policy.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.runtime.member
}

# The Gemini API key for Gemini Live ephemeral tokens: read by the runtime service account, on
# that one secret only.
resource "google_secret_manager_secret_iam_member" "runtime_gemini_key_accessor" {
  count     = var.gemini_api_key_secret == null ? 0 : 1
  project   = coalesce(var.gemini_api_key_secret.project, var.project_id)
  secret_id = var.gemini_api_key_secret.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.runtime.member
}
