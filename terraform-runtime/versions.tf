terraform {
  # 1.9 for cross-variable validation, 1.10 for the S3 backend's native lock file.
  required_version = ">= 1.10.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100.0, < 6.0.0"
    }
  }
}
