"""The embedded S3-compatible server (SeaweedFS ``weed mini``) the project installs, starts and stops."""

from lake_assets.local_s3.ports import DEFAULT_S3_PORT, EmbeddedS3Error, PortInUseError, Ports, free_ports
from lake_assets.local_s3.server import Credentials, EmbeddedS3

__all__ = ["DEFAULT_S3_PORT", "Credentials", "EmbeddedS3", "EmbeddedS3Error", "PortInUseError", "Ports",
           "free_ports"]
