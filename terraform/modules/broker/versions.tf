terraform {
  # optional() attribute defaults need 1.3, check blocks 1.5.
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.9"
    }
  }
}
