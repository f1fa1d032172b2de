# -----------------------------------------------------------------------------
# Where and what
# -----------------------------------------------------------------------------

variable "project_id" {
  description = "Project that hosts the broker: the function, its service accounts, the Firestore database, the KMS key and the policy secret."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID (6-30 lower-case letters, digits and hyphens), not a project number or a domain-scoped ID."
  }
}

variable "region" {
  description = "Region of the function, and the default location of the KMS key ring, the Firestore database and the source bucket."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Cloud Functions region such as europe-west1 or us-central1."
  }
}

variable "name" {
  description = "Name of the function, and the prefix of the resources the module creates (service accounts, bucket, key ring, secret). The runtime service account's account_id is this name."
  type        = string
  default     = "token-broker"

  validation {
    # 6-24 characters: it is a service-account account_id (6-30) and "-build" is appended for the build account.
    condition     = can(regex("^[a-z][a-z0-9-]{4,22}[a-z0-9]$", var.name))
    error_message = "name must be 6-24 lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "labels" {
  description = "Labels applied to the resources that take labels (function, bucket, KMS key)."
  type        = map(string)
  default     = {}
}

variable "enable_apis" {
  description = "Enable the APIs the broker needs (google_project_service, never disabled on destroy). Set false when the project factory already does it."
  type        = bool
  default     = true
}

# -----------------------------------------------------------------------------
# Source
# -----------------------------------------------------------------------------

variable "source_archive_path" {
  description = "Local path of the zip to deploy (see the README: package.json, package-lock.json and dist/). Uploaded as broker-SHA256.zip."
  type        = string
}

variable "source_archive_sha256" {
  description = "Hex SHA-256 of the archive, e.g. filesha256(var.source_archive_path). It names the uploaded object, so a changed archive is a new object and a new function revision."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.source_archive_sha256))
    error_message = "source_archive_sha256 must be 64 lower-case hex digits (the output of filesha256() or sha256sum)."
  }
}

variable "source_archive_prebuilt" {
  description = "true (default): the archive holds the compiled dist/ but not the TypeScript sources, so the build is told to skip the gcp-build script (build environment GOOGLE_NODE_RUN_SCRIPTS=\"\"). false: the archive holds functions/, shared/ and the tsconfig files, and Cloud Build runs gcp-build (npm run build)."
  type        = bool
  default     = true
}

variable "source_bucket" {
  description = "Bucket for the source archive. name defaults to PROJECT-NAME-source; location defaults to the region."
  type = object({
    name          = optional(string)
    location      = optional(string)
    force_destroy = optional(bool, false)
  })
  default  = {}
  nullable = false
}

variable "runtime" {
  description = "Cloud Functions runtime. The broker runs on Node 20.19+ and 22; nodejs22 is the tested production runtime."
  type        = string
  default     = "nodejs22"

  validation {
    condition     = contains(["nodejs20", "nodejs22", "nodejs24"], var.runtime)
    error_message = "runtime must be nodejs22 (recommended), nodejs20 or nodejs24."
  }
}

# -----------------------------------------------------------------------------
# Function
# -----------------------------------------------------------------------------

variable "ingress_settings" {
  description = <<-EOT
    Who can reach the function's URL at the network level.
    ALLOW_INTERNAL_AND_GCLB (default): only VPC networks of the project (or its VPC Service Controls perimeter) and an external Application Load Balancer in front of the function.
    ALLOW_ALL: the internet. Needed for callers outside Google Cloud (GitHub-hosted runners, GitLab.com runners, browsers) unless a load balancer fronts the broker.
    ALLOW_INTERNAL_ONLY: VPC networks only.
    The broker authenticates every request itself, so ALLOW_ALL is not an open door; ingress only narrows who can try.
  EOT
  type        = string
  default     = "ALLOW_INTERNAL_AND_GCLB"

  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.ingress_settings)
    error_message = "ingress_settings must be ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  }
}

variable "allow_unauthenticated_invocations" {
  description = "Grant roles/run.invoker to allUsers on the function's Cloud Run service. The broker authenticates callers itself (OIDC tokens, assertions, secrets, API keys), and callers outside Google Cloud cannot present the Google-signed identity token that Cloud Run's IAM check demands. false: only invoker_members get through the platform's IAM check."
  type        = bool
  default     = true
}

variable "invoker_members" {
  description = "Additional principals granted roles/run.invoker (e.g. serviceAccount:caller@p.iam.gserviceaccount.com), for allow_unauthenticated_invocations = false."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.invoker_members : can(regex("^(serviceAccount|user|group|domain|principal|principalSet):", m))])
    error_message = "invoker_members must be IAM members such as serviceAccount:EMAIL or group:EMAIL; use allow_unauthenticated_invocations for allUsers."
  }
}

variable "function_config" {
  description = "Sizing and rollout of the function. concurrency > 1 needs at least 1 CPU."
  type = object({
    min_instance_count               = optional(number, 0)
    max_instance_count               = optional(number, 10)
    max_instance_request_concurrency = optional(number, 80)
    timeout_seconds                  = optional(number, 60)
    available_memory                 = optional(string, "512Mi")
    available_cpu                    = optional(string, "1")
    all_traffic_on_latest_revision   = optional(bool, true)
  })
  default  = {}
  nullable = false

  validation {
    condition = (
      var.function_config.min_instance_count >= 0 &&
      var.function_config.max_instance_count >= 1 &&
      var.function_config.min_instance_count <= var.function_config.max_instance_count
    )
    error_message = "function_config needs 0 <= min_instance_count <= max_instance_count and max_instance_count >= 1."
  }

  validation {
    condition = (
      var.function_config.max_instance_request_concurrency >= 1 &&
      var.function_config.max_instance_request_concurrency <= 1000 &&
      (var.function_config.max_instance_request_concurrency == 1 || try(tonumber(var.function_config.available_cpu), 0) >= 1)
    )
    error_message = "max_instance_request_concurrency must be 1-1000, and above 1 only with available_cpu >= 1."
  }

  validation {
    # Every request ends within the broker's 20 s request deadline (DEFAULTS.requestDeadlineMs), with an
    # answer and an audit entry; the function timeout must leave room above it. A long timeout only keeps
    # stuck requests alive.
    condition     = var.function_config.timeout_seconds >= 30 && var.function_config.timeout_seconds <= 300
    error_message = "timeout_seconds must be 30-300 (the broker's request deadline is 20 s)."
  }

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi|M|G)$", var.function_config.available_memory)) && can(tonumber(var.function_config.available_cpu))
    error_message = "available_memory must look like 512Mi or 1Gi, and available_cpu must be a number such as \"1\" or \"0.583\"."
  }
}

variable "issuer_url" {
  description = "The broker's public base URL (BROKER_ISSUER_URL): the RFC 8414 issuer, the only audience of client assertions, and an accepted `audience`. null: the function's deterministic URL https://REGION-PROJECT.cloudfunctions.net/NAME (known before apply, so policies can reference it). Set it to the load balancer's URL when one fronts the broker."
  type        = string
  default     = null

  validation {
    condition     = var.issuer_url == null || can(regex("^https://[^/?#@[:space:]]+(/[^?#[:space:]]*[^/?#[:space:]])?$", var.issuer_url))
    error_message = "issuer_url must be an https URL without query, fragment, user info or trailing slash (audiences are compared byte for byte)."
  }
}

variable "max_token_lifetime_seconds" {
  description = "Broker-wide ceiling on minted token lifetimes (BROKER_MAX_LIFETIME_SECONDS)."
  type        = number
  default     = 3600

  validation {
    condition     = var.max_token_lifetime_seconds >= 60 && var.max_token_lifetime_seconds <= 3600 && floor(var.max_token_lifetime_seconds) == var.max_token_lifetime_seconds
    error_message = "max_token_lifetime_seconds must be an integer from 60 to 3600."
  }
}

variable "trust_x_forwarded_for" {
  description = "BROKER_TRUST_X_FORWARDED_FOR: take the caller's address (API key IP ranges, audit httpRequest.remoteIp) from the last X-Forwarded-For entry, which Google's front end appends. Keep true on Cloud Functions; behind your own load balancer check what the broker records before relying on IP ranges."
  type        = bool
  default     = true
}

variable "environment_variables" {
  description = "Extra runtime environment variables (e.g. BROKER_IAM_ENDPOINT for a Private Service Connect endpoint). Variables the module sets and development-only switches are refused."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition = length(setintersection(keys(var.environment_variables), [
      "BROKER_MODE", "BROKER_DEV_SOURCE_TOKEN", "BROKER_CACHE_LOCAL_KEY", "METADATA_SERVER_DETECTION",
    ])) == 0
    error_message = "BROKER_MODE, BROKER_DEV_SOURCE_TOKEN, BROKER_CACHE_LOCAL_KEY and METADATA_SERVER_DETECTION are development or test switches and must never reach a deployed broker."
  }

  validation {
    condition = length(setintersection(keys(var.environment_variables), [
      "BROKER_POLICY_FILE", "BROKER_ISSUER_URL", "BROKER_MAX_LIFETIME_SECONDS", "BROKER_CACHE", "BROKER_CACHE_KMS_KEY",
      "BROKER_CACHE_COLLECTION", "BROKER_FIRESTORE_PROJECT", "BROKER_FIRESTORE_DATABASE",
      "BROKER_CACHE_MIN_REMAINING_SECONDS", "BROKER_TRUST_X_FORWARDED_FOR", "GOOGLE_CLOUD_PROJECT", "BROKER_GEMINI_API_KEY_SECRET",
    ])) == 0
    error_message = "environment_variables must not set variables the module manages; use the module's own inputs (issuer_url, cache, firestore, kms, ...)."
  }
}

variable "gemini_api_key_secret" {
  description = "The Secret Manager secret holding the Gemini API key the broker creates Gemini Live ephemeral tokens with (rules with gemini_ephemeral): its secret_id (in project_id, or project when set) and version (default latest). The runtime service account gets roles/secretmanager.secretAccessor on that secret only. Null: the broker issues no ephemeral tokens."
  type = object({
    secret_id = string
    version   = optional(string, "latest")
    project   = optional(string)
  })
  default = null

  validation {
    condition     = var.gemini_api_key_secret == null || can(regex("^[A-Za-z0-9_-]{1,255}$", var.gemini_api_key_secret.secret_id))
    error_message = "gemini_api_key_secret.secret_id must be a secret id (letters, digits, _ and -), not a resource name."
  }

  validation {
    condition     = var.gemini_api_key_secret == null || can(regex("^(latest|[1-9][0-9]*)$", var.gemini_api_key_secret.version))
    error_message = "gemini_api_key_secret.version must be latest or a version number."
  }
}

variable "web_apps" {
  description = "Web apps the broker signs users in for, as the confidential OAuth client of their identity provider (the policy's web_apps). For each, the module creates an empty Secret Manager secret for the app's OAuth client secret (secret_id defaults to NAME-webapp-ID; replicated like the policy secret) and grants the runtime service account roles/secretmanager.secretAccessor on that secret only. The module never creates a secret version: add the client secret with `gcloud secrets versions add SECRET_ID --data-file=-`. The output web_app_client_secret_refs gives each app's client_secret_ref."
  type = list(object({
    id        = string
    secret_id = optional(string)
  }))
  default  = []
  nullable = false

  validation {
    condition     = alltrue([for app in var.web_apps : can(regex("^[a-z0-9][a-z0-9-]{0,62}$", app.id))])
    error_message = "web_apps[*].id must be 1-63 lower-case letters, digits and hyphens, not starting with a hyphen (the policy's web_apps[].id)."
  }

  validation {
    condition     = length(distinct([for app in var.web_apps : app.id])) == length(var.web_apps)
    error_message = "web_apps ids must be unique."
  }

  validation {
    condition     = alltrue([for app in var.web_apps : app.secret_id == null || can(regex("^[A-Za-z0-9_-]{1,255}$", coalesce(app.secret_id, "x")))])
    error_message = "web_apps[*].secret_id must be a secret id (1-255 letters, digits, hyphens or underscores), not a resource name."
  }

  validation {
    condition     = length(distinct(compact([for app in var.web_apps : app.secret_id]))) == length(compact([for app in var.web_apps : app.secret_id]))
    error_message = "web_apps[*].secret_id must be unique: each web app needs its own secret."
  }
}

# -----------------------------------------------------------------------------
# Policy
# -----------------------------------------------------------------------------

variable "policy_yaml" {
  description = "The trust policy (YAML or JSON text, docs/policy.md). Stored as a Secret Manager secret version and mounted at /etc/token-broker/policy.yaml. Changing it creates a new version and a new function revision."
  type        = string

  validation {
    # Only the outline is checked here; the broker compiles the rest at start-up (and answers 500 until it can).
    condition     = can(yamldecode(var.policy_yaml)) && try(yamldecode(var.policy_yaml).version, null) == 1 && length(try(yamldecode(var.policy_yaml).rules, [])) > 0
    error_message = "policy_yaml must be a YAML document with `version: 1` and at least one rule. Check it with the command in docs/policy.md (Loading and errors) before deploying."
  }
}

variable "policy_secret" {
  description = "The Secret Manager secret that holds the policy. secret_id defaults to NAME-policy; replica_locations null means automatic replication."
  type = object({
    secret_id         = optional(string)
    replica_locations = optional(list(string))
  })
  default  = {}
  nullable = false

  validation {
    condition     = var.policy_secret.secret_id == null || can(regex("^[A-Za-z0-9_-]{1,255}$", coalesce(var.policy_secret.secret_id, "x")))
    error_message = "policy_secret.secret_id must be 1-255 letters, digits, hyphens or underscores."
  }

  validation {
    condition     = var.policy_secret.replica_locations == null || length(coalesce(var.policy_secret.replica_locations, [])) > 0
    error_message = "policy_secret.replica_locations must be null (automatic replication) or list at least one location."
  }
}

# -----------------------------------------------------------------------------
# Token cache, replay store and rate limits
# -----------------------------------------------------------------------------

variable "cache" {
  description = "Token cache settings: the Firestore collection (BROKER_CACHE_COLLECTION) and the minimum remaining lifetime of a served cached token (BROKER_CACHE_MIN_REMAINING_SECONDS)."
  type = object({
    collection            = optional(string, "token-broker-cache")
    min_remaining_seconds = optional(number, 300)
  })
  default  = {}
  nullable = false

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$", var.cache.collection)) && !contains(["token-broker-replay", "token-broker-limits", "token-broker-issued", "token-broker-sessions", "token-broker-logins"], var.cache.collection)
    error_message = "cache.collection must be a simple collection id, and not token-broker-replay, token-broker-limits, token-broker-issued, token-broker-sessions or token-broker-logins (used by the replay store, the rate limiter, introspection, and user sign-in's sessions and pending logins)."
  }

  validation {
    condition     = var.cache.min_remaining_seconds >= 0 && var.cache.min_remaining_seconds <= 1800
    error_message = "cache.min_remaining_seconds must be 0-1800."
  }
}

variable "firestore" {
  description = <<-EOT
    The Firestore (native mode) database shared by all instances: token cache, single-use assertion ids, rate-limit counters, issued tokens, user sign-in sessions and pending logins.
    create = true (default) creates database_id (default "token-broker") at location_id (default: the region).
    create = false uses an existing database, e.g. database_id = "(default)".
    restrict_iam_to_database = true grants roles/datastore.user with an IAM condition on this database only.
    disable_ttl_field_indexes = true removes the single-field indexes of expireAt (never queried); set false for Enterprise-edition databases, which refuse index changes.
  EOT
  type = object({
    create                    = optional(bool, true)
    database_id               = optional(string, "token-broker")
    location_id               = optional(string)
    deletion_protection       = optional(bool, false)
    restrict_iam_to_database  = optional(bool, true)
    disable_ttl_field_indexes = optional(bool, true)
  })
  default  = {}
  nullable = false

  validation {
    condition     = var.firestore.database_id == "(default)" || can(regex("^[a-z][a-z0-9-]{2,61}[a-z0-9]$", var.firestore.database_id))
    error_message = "firestore.database_id must be (default) or 4-63 lower-case letters, digits and hyphens starting with a letter."
  }
}

variable "kms" {
  description = <<-EOT
    The Cloud KMS key that wraps the cache's data-encryption keys (BROKER_CACHE_KMS_KEY).
    By default the module creates key ring NAME in the region and key token-cache (symmetric ENCRYPT_DECRYPT, rotated every 90 days).
    existing_key_id = projects/P/locations/L/keyRings/R/cryptoKeys/K uses a key managed elsewhere; the module still grants the broker encrypt/decrypt on it.
    Key rings cannot be deleted: after a destroy, re-creating one with the same name needs `terraform import`.
  EOT
  type = object({
    key_ring         = optional(string)
    key              = optional(string, "token-cache")
    location         = optional(string)
    rotation_period  = optional(string, "7776000s")
    protection_level = optional(string, "SOFTWARE")
    existing_key_id  = optional(string)
  })
  default  = {}
  nullable = false

  validation {
    condition     = var.kms.existing_key_id == null || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", coalesce(var.kms.existing_key_id, "x")))
    error_message = "kms.existing_key_id must be projects/P/locations/L/keyRings/R/cryptoKeys/K (the broker refuses anything else)."
  }

  validation {
    # KMS accepts 1 day to 100 years; longer than a year defeats the point of rotation.
    condition     = can(regex("^[0-9]+s$", var.kms.rotation_period)) && try(tonumber(trimsuffix(var.kms.rotation_period, "s")) >= 86400 && tonumber(trimsuffix(var.kms.rotation_period, "s")) <= 31536000, false)
    error_message = "kms.rotation_period must be seconds with an s suffix, from 86400s (1 day) to 31536000s (365 days)."
  }

  validation {
    condition     = contains(["SOFTWARE", "HSM"], var.kms.protection_level)
    error_message = "kms.protection_level must be SOFTWARE or HSM."
  }
}

# -----------------------------------------------------------------------------
# Identities
# -----------------------------------------------------------------------------

variable "build_service_account" {
  description = "Service account Cloud Build runs the function's build as. By default the module creates NAME-build with roles/run.builder. email: use an existing account of the project instead (it needs roles/run.builder or equivalent). create = false without email: the platform default (often the Compute Engine default account, which recent projects no longer give the roles a build needs)."
  type = object({
    create = optional(bool)
    email  = optional(string)
  })
  default  = {}
  nullable = false

  validation {
    condition     = !(coalesce(var.build_service_account.create, false) && var.build_service_account.email != null)
    error_message = "build_service_account: set create = true or an email, not both."
  }
}

variable "target_service_accounts" {
  description = <<-EOT
    Service accounts the broker mints tokens for, keyed by account_id. Each gets its project roles here, and the broker's runtime account gets roles/iam.serviceAccountTokenCreator on it (and only on it).
    preset = "gemini" adds roles/aiplatform.user (Vertex AI) and enables the Vertex AI API.
    The policy's grant.service_account values are ACCOUNT_ID@PROJECT.iam.gserviceaccount.com.
  EOT
  type = map(object({
    display_name = optional(string)
    description  = optional(string)
    roles        = optional(list(string), [])
    preset       = optional(string)
  }))
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for k in keys(var.target_service_accounts) : can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", k))])
    error_message = "target_service_accounts keys are account_ids: 6-30 lower-case letters, digits and hyphens, starting with a letter."
  }

  validation {
    condition     = alltrue([for v in values(var.target_service_accounts) : v.preset == null || contains(["gemini"], coalesce(v.preset, "x"))])
    error_message = "target_service_accounts[*].preset must be null or \"gemini\"."
  }

  validation {
    # A target that can mint or manage credentials, or change IAM, turns one broker rule into the whole project.
    condition = alltrue(flatten([for v in values(var.target_service_accounts) : [for r in v.roles : !contains([
      "roles/owner", "roles/editor",
      "roles/iam.serviceAccountTokenCreator", "roles/iam.serviceAccountUser", "roles/iam.serviceAccountKeyAdmin",
      "roles/iam.serviceAccountAdmin", "roles/iam.workloadIdentityUser", "roles/iam.securityAdmin",
      "roles/resourcemanager.projectIamAdmin", "roles/iam.roleAdmin",
    ], r)]]))
    error_message = "target_service_accounts roles must not include owner/editor or roles that mint credentials or change IAM (serviceAccountTokenCreator, serviceAccountUser, serviceAccountKeyAdmin, serviceAccountAdmin, workloadIdentityUser, securityAdmin, projectIamAdmin, roleAdmin): a caller of the broker would inherit the whole project."
  }

  validation {
    condition     = alltrue(flatten([for v in values(var.target_service_accounts) : [for r in v.roles : can(regex("^(roles/[A-Za-z0-9_.]+|projects/[^/]+/roles/[A-Za-z0-9_.]+|organizations/[0-9]+/roles/[A-Za-z0-9_.]+)$", r))]]))
    error_message = "target_service_accounts roles must be roles/NAME, projects/P/roles/NAME or organizations/N/roles/NAME."
  }
}

variable "external_target_service_accounts" {
  description = "Emails of service accounts managed elsewhere (other projects included) that the broker may also impersonate: the module grants roles/iam.serviceAccountTokenCreator on each of them, nothing else."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for e in var.external_target_service_accounts : can(regex("^[a-z0-9-]+@[a-z0-9.-]+\\.gserviceaccount\\.com$", e))])
    error_message = "external_target_service_accounts must be service-account emails (…@….gserviceaccount.com)."
  }
}
