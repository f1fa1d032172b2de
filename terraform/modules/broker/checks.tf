locals {
  policy_document = try(yamldecode(var.policy_yaml), {})

  # The account the broker itself impersonates for each rule: grant.service_account, or the
  # first delegate of a delegation chain.
  policy_impersonated_accounts = toset(compact([
    for rule in try(local.policy_document.rules, []) :
    try(length(rule.grant.delegates) > 0, false) ? try(rule.grant.delegates[0], "") : try(rule.grant.service_account, "")
  ]))

  token_creator_accounts = toset(concat(values(local.target_service_account_emails), var.external_target_service_accounts))
}

# A warning, not an error: the account may get Token Creator some other way.
check "policy_accounts_are_impersonable" {
  assert {
    condition     = length(setsubtract(local.policy_impersonated_accounts, local.token_creator_accounts)) == 0
    error_message = "The policy grants tokens for service accounts this module gives the broker no Token Creator role on: ${join(", ", sort(setsubtract(local.policy_impersonated_accounts, local.token_creator_accounts)))}. Add them to target_service_accounts or external_target_service_accounts, or those rules answer 500 server_error (IAM refuses the mint)."
  }
}
