locals {
  create_kms_key = var.kms.existing_key_id == null
  kms_location   = coalesce(var.kms.location, var.region)

  # projects/P/locations/L/keyRings/R/cryptoKeys/K, the only form BROKER_CACHE_KMS_KEY accepts.
  kms_key_id = local.create_kms_key ? google_kms_crypto_key.cache[0].id : var.kms.existing_key_id
}

resource "google_kms_key_ring" "broker" {
  count = local.create_kms_key ? 1 : 0

  project  = var.project_id
  name     = coalesce(var.kms.key_ring, var.name)
  location = local.kms_location

  depends_on = [google_project_service.apis]
}

# Wraps the data-encryption keys of the token cache (envelope encryption, docs/cache.md).
# Rotation only changes the primary version: DEKs wrapped under older versions still unwrap,
# and the broker wraps a new DEK at least hourly, so rotation needs no action.
resource "google_kms_crypto_key" "cache" {
  count = local.create_kms_key ? 1 : 0

  name            = var.kms.key
  key_ring        = google_kms_key_ring.broker[0].id
  purpose         = "ENCRYPT_DECRYPT"
  rotation_period = var.kms.rotation_period
  labels          = var.labels

  version_template {
    algorithm        = "GOOGLE_SYMMETRIC_ENCRYPTION"
    protection_level = var.kms.protection_level
  }
}

# Encrypt/decrypt on this key only; no other principal of the module gets it.
resource "google_kms_crypto_key_iam_member" "runtime_encrypter_decrypter" {
  crypto_key_id = local.kms_key_id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = google_service_account.runtime.member
}
