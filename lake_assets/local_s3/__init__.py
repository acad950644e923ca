"""The embedded S3-compatible server (SeaweedFS ``weed mini``) the project installs, starts and stops."""

from lake_assets.local_s3.server import (
    DEFAULT_S3_PORT,
    Credentials,
    EmbeddedS3,
    EmbeddedS3Error,
    Ports,
    PortInUseError,
    free_ports,
)

__all__ = ["DEFAULT_S3_PORT", "Credentials", "EmbeddedS3", "EmbeddedS3Error", "PortInUseError", "Ports",
           "free_ports"]
