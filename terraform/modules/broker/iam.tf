locals {
  # One entry per (target account, project role); the gemini preset adds Vertex AI User.
  target_project_roles = merge([
    for sa, v in var.target_service_accounts : {
      for role in distinct(concat(v.roles, v.preset == "gemini" ? ["roles/aiplatform.user"] : [])) :
      "${sa} ${role}" => { sa = sa, role = role }
    }
  ]...)

  # Known before apply (the policy names them; see the check in checks.tf).
  target_service_account_emails = {
    for sa in keys(var.target_service_accounts) : sa => "${sa}@${var.project_id}.iam.gserviceaccount.com"
  }

  create_build_service_account = coalesce(var.build_service_account.create, var.build_service_account.email == null)
  build_service_account_id = (
    local.create_build_service_account ? google_service_account.build[0].id :
    var.build_service_account.email != null ? "projects/${var.project_id}/serviceAccounts/${var.build_service_account.email}" :
    null
  )
}

# -----------------------------------------------------------------------------
# The broker's own identity (Application Default Credentials inside the function)
# -----------------------------------------------------------------------------

resource "google_service_account" "runtime" {
  project      = var.project_id
  account_id   = var.name
  display_name = "token-broker runtime (${var.name})"
  description  = "Runtime identity of the token broker. Token Creator on its target service accounts only; no keys."

  depends_on = [google_project_service.apis]
}

# Firestore: token cache, replay store, rate-limit counters. With restrict_iam_to_database the
# grant is conditioned on the broker's database, so other databases of the project stay closed.
resource "google_project_iam_member" "runtime_datastore_user" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.runtime.member

  dynamic "condition" {
    for_each = var.firestore.restrict_iam_to_database ? [local.firestore_database_id] : []

    content {
      title       = "${var.name} Firestore database only"
      description = "The token broker reads and writes its own Firestore database and no other."
      expression  = "resource.name == \"projects/${var.project_id}/databases/${condition.value}\""
    }
  }
}

# The audit trail is written to stdout and shipped by the platform (no API call of ours); the
# role covers any write through the Logging API, and nothing else.
resource "google_project_iam_member" "runtime_log_writer" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.runtime.member
}

# -----------------------------------------------------------------------------
# Target service accounts: what the broker mints tokens for
# -----------------------------------------------------------------------------

resource "google_service_account" "target" {
  for_each = var.target_service_accounts

  project      = var.project_id
  account_id   = each.key
  display_name = coalesce(each.value.display_name, "token-broker target ${each.key}")
  description  = coalesce(each.value.description, "Impersonated by the token broker ${var.name}. Holds only what its callers need; no keys.")

  depends_on = [google_project_service.apis]
}

resource "google_project_iam_member" "target" {
  for_each = local.target_project_roles

  project = var.project_id
  role    = each.value.role
  member  = google_service_account.target[each.value.sa].member
}

# roles/iam.serviceAccountTokenCreator on each target, never on the project: a project-wide
# grant would let the broker mint tokens for every service account, the runtime's own included.
resource "google_service_account_iam_member" "runtime_token_creator" {
  for_each = google_service_account.target

  service_account_id = each.value.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = google_service_account.runtime.member
}

resource "google_service_account_iam_member" "runtime_token_creator_external" {
  for_each = toset(var.external_target_service_accounts)

  # "-" lets IAM infer the account's project from its email.
  service_account_id = "projects/-/serviceAccounts/${each.value}"
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = google_service_account.runtime.member
}

# -----------------------------------------------------------------------------
# Build identity
# -----------------------------------------------------------------------------

resource "google_service_account" "build" {
  count = local.create_build_service_account ? 1 : 0

  project      = var.project_id
  account_id   = "${var.name}-build"
  display_name = "token-broker build (${var.name})"
  description  = "Cloud Build identity for the token broker function's builds."

  depends_on = [google_project_service.apis]
}

# Cloud Run Builder: read the staged source, write the image to Artifact Registry, write build
# logs. Nothing at run time.
resource "google_project_iam_member" "build" {
  for_each = local.create_build_service_account ? toset(["roles/run.builder"]) : toset([])

  project = var.project_id
  role    = each.value
  member  = google_service_account.build[0].member
}
