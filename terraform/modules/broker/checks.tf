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

locals {
  # The secrets (projects/P/secrets/S) the policy's web apps read their OAuth client secret from,
  # and those the module gives the broker read access to.
  policy_web_app_secrets = toset(compact([
    for app in try(local.policy_document.web_apps, []) :
    try(regex("^(projects/[^/]+/secrets/[^/]+)/versions/[^/]+$", app.client_secret_ref)[0], "")
  ]))

  readable_web_app_secrets = toset([
    for ref in values(local.web_app_client_secret_refs) : regex("^(projects/[^/]+/secrets/[^/]+)/versions/[^/]+$", ref)[0]
  ])
}

# A warning, not an error: the secret may be readable through a grant made elsewhere.
check "policy_web_app_secrets_are_readable" {
  assert {
    condition     = length(setsubtract(local.policy_web_app_secrets, local.readable_web_app_secrets)) == 0
    error_message = "The policy's web_apps read client secrets from secrets this module gives the broker no access to: ${join(", ", sort(setsubtract(local.policy_web_app_secrets, local.readable_web_app_secrets)))}. Add the web apps to web_apps (and use the output web_app_client_secret_refs as client_secret_ref), or sign-in for them fails (Secret Manager refuses the read)."
  }
}
