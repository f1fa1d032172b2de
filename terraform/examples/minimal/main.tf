locals {
  name = "token-broker"
  # The function's deterministic URL, known before apply: the policy's audience and
  # BROKER_ISSUER_URL are the same string.
  broker_url = "https://${var.region}-${var.project_id}.cloudfunctions.net/${local.name}"

  target_account_id = "gke-gemini"

  policy_yaml = templatefile("${path.module}/policy.yaml.tftpl", {
    broker_url             = local.broker_url
    cluster_issuer         = "https://container.googleapis.com/v1/projects/${coalesce(var.gke_cluster.project, var.project_id)}/locations/${var.gke_cluster.location}/clusters/${var.gke_cluster.name}"
    namespace              = var.workload.namespace
    service_account        = var.workload.service_account
    target_service_account = "${local.target_account_id}@${var.project_id}.iam.gserviceaccount.com"
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

  # Defaults kept: ingress ALLOW_INTERNAL_AND_GCLB (the pods call from the project's VPC),
  # a dedicated Firestore database, a new KMS key, min 0 / max 10 instances.
  policy_yaml = local.policy_yaml

  target_service_accounts = {
    (local.target_account_id) = {
      display_name = "GKE workloads: Gemini"
      preset       = "gemini"
    }
  }
}
