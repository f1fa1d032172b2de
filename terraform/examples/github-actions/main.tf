locals {
  name = "token-broker"
  # The function's deterministic URL, known before apply: the audience workflows request, the
  # policy's accepted audience and BROKER_ISSUER_URL are the same string.
  broker_url = "https://${var.region}-${var.project_id}.cloudfunctions.net/${local.name}"

  gemini_account_id = "github-gemini"

  policy_yaml = templatefile("${path.module}/policy.yaml.tftpl", {
    broker_url          = local.broker_url
    github_org          = var.github_org
    github_org_id       = var.github_org_id
    repository_ids      = sort(values(var.repositories))
    default_branch      = var.default_branch
    allow_pull_requests = var.allow_pull_requests
    service_account     = "${local.gemini_account_id}@${var.project_id}.iam.gserviceaccount.com"
  })
}

module "broker" {
  source = "../../modules/broker"

  project_id = var.project_id
  region     = var.region
  name       = local.name
  issuer_url = local.broker_url

  source_archive_path   = var.source_archive_path
  source_archive_sha256 = filesha256(var.source_archive_path)

  # GitHub-hosted runners call from the internet: without a load balancer in front, the
  # function must accept all ingress. The broker authenticates every request itself, and
  # allUsers may invoke it because a runner has no Google identity token to present.
  ingress_settings                  = "ALLOW_ALL"
  allow_unauthenticated_invocations = true

  function_config = {
    max_instance_count = 20
  }

  policy_yaml = local.policy_yaml

  target_service_accounts = {
    (local.gemini_account_id) = {
      display_name = "GitHub Actions: Gemini"
      description  = "Tokens for ${var.github_org} workflows, minted by the token broker."
      preset       = "gemini"
    }
  }
}

# Optional: the repository that holds this configuration deploys it without keys, through
# Google's own federation (the broker cannot deploy itself). The same CEL pins the
# organisation here as in the broker's policy.
module "federation" {
  source = "../../modules/federation"
  count  = var.deployer == null ? 0 : 1

  project_id = var.project_id
  pool_id    = "github-actions"

  oidc_providers = {
    github = {
      issuer_uri   = "https://token.actions.githubusercontent.com"
      display_name = "GitHub Actions (${var.github_org})"
      attribute_mapping = {
        "google.subject"                = "assertion.sub"
        "attribute.repository"          = "assertion.repository"
        "attribute.repository_id"       = "assertion.repository_id"
        "attribute.repository_owner_id" = "assertion.repository_owner_id"
        "attribute.ref"                 = "assertion.ref"
      }
      attribute_condition = "assertion.repository_owner_id == '${var.github_org_id}' && assertion.repository_owner == '${var.github_org}'"
    }
  }

  service_account_bindings = var.deployer == null ? {} : {
    deployer = {
      service_account_id = "projects/-/serviceAccounts/${var.deployer.service_account_email}"
      attribute          = "repository_id"
      value              = var.deployer.repository_id
    }
  }
}
