output "pool_name" {
  description = "Full name of the pool: projects/NUMBER/locations/global/workloadIdentityPools/POOL."
  value       = google_iam_workload_identity_pool.pool.name
}

output "pool_id" {
  description = "The pool id."
  value       = google_iam_workload_identity_pool.pool.workload_identity_pool_id
}

output "provider_names" {
  description = "Full provider names by key (projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/ID): the workload_identity_provider input of google-github-actions/auth."
  value       = { for k, p in google_iam_workload_identity_pool_provider.oidc : k => p.name }
}

output "provider_audiences" {
  description = "Default audience of each provider, //iam.googleapis.com/PROVIDER_NAME: what tokens must carry (with or without an https: prefix) when allowed_audiences is not set, and the audience of external_account files."
  value       = { for k, p in google_iam_workload_identity_pool_provider.oidc : k => "//iam.googleapis.com/${p.name}" }
}

output "principal_set_prefix" {
  description = "principalSet://iam.googleapis.com/POOL_NAME: append /attribute.NAME/VALUE for IAM members outside this module."
  value       = local.principal_set_prefix
}

output "service_account_members" {
  description = "The IAM member bound on each service account, by binding key."
  value       = { for k, b in google_service_account_iam_member.workload_identity_user : k => b.member }
}
