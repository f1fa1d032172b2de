output "function_name" {
  description = "Name of the Cloud Function (and of the Cloud Run service behind it)."
  value       = google_cloudfunctions2_function.broker.name
}

output "function_url" {
  description = "The function's cloudfunctions.net URL (https://REGION-PROJECT.cloudfunctions.net/NAME)."
  value       = google_cloudfunctions2_function.broker.url
}

output "function_uri" {
  description = "The run.app URI of the Cloud Run service that serves the function."
  value       = google_cloudfunctions2_function.broker.service_config[0].uri
}

output "issuer_url" {
  description = "BROKER_ISSUER_URL: the broker's public base URL, the audience callers request from their OIDC issuer, and the RFC 8414 issuer."
  value       = local.issuer_url
}

output "token_endpoint" {
  description = "The token endpoint (ISSUER_URL/token; ISSUER_URL/v1/token is an alias). token_url of external_account credential files."
  value       = "${local.issuer_url}/token"
}

output "metadata_url" {
  description = "RFC 8414 authorization server metadata."
  value       = "${local.issuer_url}/.well-known/oauth-authorization-server"
}

output "runtime_service_account_email" {
  description = "The broker's own identity (Token Creator on the target service accounts only)."
  value       = google_service_account.runtime.email
}

output "build_service_account_email" {
  description = "The Cloud Build identity of the function's builds, or null for the platform default."
  value       = local.create_build_service_account ? google_service_account.build[0].email : var.build_service_account.email
}

output "target_service_account_emails" {
  description = "Target service accounts by key: the grant.service_account values of the policy."
  value       = { for k, sa in google_service_account.target : k => sa.email }
}

output "kms_key_id" {
  description = "BROKER_CACHE_KMS_KEY: the Cloud KMS key that wraps the cache's data-encryption keys."
  value       = local.kms_key_id
}

output "firestore_database" {
  description = "The Firestore database id (BROKER_FIRESTORE_DATABASE)."
  value       = var.firestore.create ? google_firestore_database.broker[0].name : local.firestore_database_id
}

output "ttl_collection_groups" {
  description = "Collection groups with a TTL policy on expireAt."
  value       = sort(tolist(local.ttl_collection_groups))
}

output "policy_secret_id" {
  description = "Full resource name of the Secret Manager secret holding the policy (projects/P/secrets/S)."
  value       = google_secret_manager_secret.policy.id
}

output "policy_secret_version" {
  description = "The policy secret version the function mounts."
  value       = google_secret_manager_secret_version.policy.version
}

output "web_app_client_secret_refs" {
  description = "Web app id => the Secret Manager version the broker reads the app's OAuth client secret from (projects/PROJECT/secrets/SECRET_ID/versions/latest): the policy's web_apps[].client_secret_ref. The secrets are created empty; add each value with `gcloud secrets versions add SECRET_ID --data-file=-`."
  value       = { for id, secret in google_secret_manager_secret.web_app : id => "projects/${var.project_id}/secrets/${secret.secret_id}/versions/latest" }
}

output "source_bucket" {
  description = "Bucket holding the source archives."
  value       = google_storage_bucket.source.name
}
