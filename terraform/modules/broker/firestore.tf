locals {
  firestore_database_id = var.firestore.database_id

  # Every collection the broker writes carries a Firestore timestamp `expireAt`: the cache
  # (BROKER_CACHE_COLLECTION), the single-use assertion ids, the rate-limit counters, the
  # record of issued tokens (introspection), and user sign-in's sessions (the encrypted
  # refresh-token vault) and pending logins. All but the cache's names are fixed in the code
  # (shared/config/defaults.ts).
  ttl_collection_groups = toset([
    var.cache.collection,
    "token-broker-replay",
    "token-broker-limits",
    "token-broker-issued",
    "token-broker-sessions",
    "token-broker-logins",
  ])
}

resource "google_firestore_database" "broker" {
  count = var.firestore.create ? 1 : 0

  project                 = var.project_id
  name                    = local.firestore_database_id
  location_id             = coalesce(var.firestore.location_id, var.region)
  type                    = "FIRESTORE_NATIVE"
  delete_protection_state = var.firestore.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  # The database only holds short-lived, encrypted state: without protection, destroy deletes it.
  deletion_policy = var.firestore.deletion_protection ? "ABANDON" : "DELETE"

  depends_on = [google_project_service.apis]
}

# TTL policies: Firestore deletes each document some time (typically within a day) after its
# expireAt. The broker never serves or honours an expired document either way; TTL only keeps
# the collections from growing forever.
resource "google_firestore_field" "ttl" {
  for_each = local.ttl_collection_groups

  project    = var.project_id
  database   = var.firestore.create ? google_firestore_database.broker[0].name : local.firestore_database_id
  collection = each.value
  field      = "expireAt"

  ttl_config {}

  # No single-field indexes on expireAt: the broker never queries it, and an index on a
  # monotonically increasing timestamp is a write hotspot. (Enterprise-edition databases
  # refuse index changes: set firestore.disable_ttl_field_indexes = false there.)
  dynamic "index_config" {
    for_each = var.firestore.disable_ttl_field_indexes ? [1] : []
    content {}
  }
}
