locals {
  # The gen2 cloudfunctions.net URL is deterministic, unlike the run.app one, so the policy and
  # BROKER_ISSUER_URL can use it before the function exists (no dependency cycle).
  default_issuer_url = "https://${var.region}-${var.project_id}.cloudfunctions.net/${var.name}"
  issuer_url         = coalesce(var.issuer_url, local.default_issuer_url)

  policy_mount_path = "/etc/token-broker"
  policy_file_name  = "policy.yaml"

  source_bucket_name = coalesce(var.source_bucket.name, "${var.project_id}-${var.name}-source")

  uses_gemini = anytrue([for v in values(var.target_service_accounts) : v.preset == "gemini"])

  apis = toset(concat(
    [
      "artifactregistry.googleapis.com",
      "cloudbuild.googleapis.com",
      "cloudfunctions.googleapis.com",
      "cloudkms.googleapis.com",
      "firestore.googleapis.com",
      "iam.googleapis.com",
      "iamcredentials.googleapis.com",
      "logging.googleapis.com",
      "run.googleapis.com",
      "secretmanager.googleapis.com",
      "storage.googleapis.com",
    ],
    local.uses_gemini ? ["aiplatform.googleapis.com"] : [],
  ))

  environment_variables = merge(
    # The platform adds LOG_EXECUTION_ID=true to gen2 functions; declaring it avoids a permanent diff.
    { LOG_EXECUTION_ID = "true" },
    var.environment_variables,
    {
      BROKER_POLICY_FILE                 = "${local.policy_mount_path}/${local.policy_file_name}"
      BROKER_ISSUER_URL                  = local.issuer_url
      BROKER_MAX_LIFETIME_SECONDS        = tostring(var.max_token_lifetime_seconds)
      BROKER_CACHE                       = "firestore"
      BROKER_CACHE_KMS_KEY               = local.kms_key_id
      BROKER_CACHE_COLLECTION            = var.cache.collection
      BROKER_FIRESTORE_PROJECT           = var.project_id
      BROKER_FIRESTORE_DATABASE          = local.firestore_database_id
      BROKER_CACHE_MIN_REMAINING_SECONDS = tostring(var.cache.min_remaining_seconds)
      BROKER_TRUST_X_FORWARDED_FOR       = var.trust_x_forwarded_for ? "true" : "false"
      # The audit trail's log name is projects/GOOGLE_CLOUD_PROJECT/logs/token-broker-audit.
      GOOGLE_CLOUD_PROJECT = var.project_id
      # BROKER_MODE stays unset (production) and METADATA_SERVER_DETECTION is never set.
    },
    var.gemini_api_key_secret == null ? {} : {
      BROKER_GEMINI_API_KEY_SECRET = "projects/${coalesce(var.gemini_api_key_secret.project, var.project_id)}/secrets/${var.gemini_api_key_secret.secret_id}/versions/${var.gemini_api_key_secret.version}"
    },
  )
}

resource "google_project_service" "apis" {
  for_each = var.enable_apis ? local.apis : toset([])

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

# -----------------------------------------------------------------------------
# Source archive
# -----------------------------------------------------------------------------

resource "google_storage_bucket" "source" {
  project                     = var.project_id
  name                        = local.source_bucket_name
  location                    = coalesce(var.source_bucket.location, var.region)
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.source_bucket.force_destroy
  labels                      = var.labels

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket_object" "source" {
  # The content hash in the name: a changed archive is a new object, hence a new build and revision.
  name   = "broker-${var.source_archive_sha256}.zip"
  bucket = google_storage_bucket.source.name
  source = var.source_archive_path
}

# -----------------------------------------------------------------------------
# Function
# -----------------------------------------------------------------------------

resource "google_cloudfunctions2_function" "broker" {
  project     = var.project_id
  location    = var.region
  name        = var.name
  description = "token-broker: exchanges OIDC tokens and client credentials for short-lived Google access tokens."
  labels      = var.labels

  build_config {
    runtime         = var.runtime
    entry_point     = "broker"
    service_account = local.build_service_account_id
    # A prebuilt archive has dist/ but no TypeScript sources: gcp-build (tsc) would fail.
    environment_variables = var.source_archive_prebuilt ? { GOOGLE_NODE_RUN_SCRIPTS = "" } : {}

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.runtime.email
    ingress_settings                 = var.ingress_settings
    all_traffic_on_latest_revision   = var.function_config.all_traffic_on_latest_revision
    min_instance_count               = var.function_config.min_instance_count
    max_instance_count               = var.function_config.max_instance_count
    max_instance_request_concurrency = var.function_config.max_instance_request_concurrency
    timeout_seconds                  = var.function_config.timeout_seconds
    available_memory                 = var.function_config.available_memory
    available_cpu                    = var.function_config.available_cpu
    environment_variables            = local.environment_variables

    # The policy, read once per instance from BROKER_POLICY_FILE. The version is pinned, so a
    # new policy version is a new revision; instances never mix two policies silently.
    secret_volumes {
      project_id = var.project_id
      secret     = google_secret_manager_secret.policy.secret_id
      mount_path = local.policy_mount_path

      versions {
        path    = local.policy_file_name
        version = google_secret_manager_secret_version.policy.version
      }
    }
  }

  depends_on = [
    google_project_service.apis,
    # Everything the first instance needs must be granted before it starts.
    google_secret_manager_secret_iam_member.runtime_policy_accessor,
    google_secret_manager_secret_iam_member.runtime_web_app_accessor,
    google_kms_crypto_key_iam_member.runtime_encrypter_decrypter,
    google_project_iam_member.runtime_datastore_user,
    google_project_iam_member.runtime_log_writer,
    google_service_account_iam_member.runtime_token_creator,
    google_service_account_iam_member.runtime_token_creator_external,
    google_project_iam_member.build,
    google_firestore_database.broker,
  ]
}

# Gen2 functions are served by a Cloud Run service of the same name, and the platform checks
# run.routes.invoke on that service: roles/run.invoker is granted there. (A
# google_cloudfunctions2_function_iam_member with roles/cloudfunctions.invoker does not open
# the HTTP endpoint of a gen2 function.)
resource "google_cloud_run_v2_service_iam_member" "public_invoker" {
  count = var.allow_unauthenticated_invocations ? 1 : 0

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.broker.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_cloud_run_v2_service_iam_member" "invokers" {
  for_each = toset(var.invoker_members)

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.broker.name
  role     = "roles/run.invoker"
  member   = each.value
}
