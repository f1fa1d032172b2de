output "broker_url" {
  description = "The broker's URL: the `audience` of the pods' projected token volume."
  value       = module.broker.issuer_url
}

output "token_endpoint" {
  description = "The token endpoint (token_url of an external_account credential file)."
  value       = module.broker.token_endpoint
}

output "runtime_service_account_email" {
  description = "The broker's runtime identity."
  value       = module.broker.runtime_service_account_email
}

output "target_service_account_emails" {
  description = "Service accounts the broker mints tokens for."
  value       = module.broker.target_service_account_emails
}

output "kms_key_id" {
  description = "The cache's KMS key."
  value       = module.broker.kms_key_id
}

output "policy_secret_id" {
  description = "The Secret Manager secret holding the policy."
  value       = module.broker.policy_secret_id
}
