"""Secrets Manager: reading a secret's text (the database credentials, the Firehose key)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from analytics_core.errors import ConfigurationError, InfrastructureError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


class SecretsManagerReader:
    """Reads secret strings; each ARN is fetched once per instance (once per container)."""

    def __init__(self, client: SecretsManagerClient) -> None:
        self._client = client
        self._cache: dict[str, str] = {}

    def __call__(self, secret_arn: str) -> str:
        """The SecretString of `secret_arn`."""
        cached = self._cache.get(secret_arn)
        if cached is not None:
            return cached
        try:
            response = self._client.get_secret_value(SecretId=secret_arn)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"ResourceNotFoundException", "AccessDeniedException"}:
                raise ConfigurationError(
                    secret_arn, f"cannot read secret {secret_arn}: {code}"
                ) from exc
            raise InfrastructureError(f"Secrets Manager failed: {code}") from exc
        except BotoCoreError as exc:
            raise InfrastructureError(f"Secrets Manager unreachable: {type(exc).__name__}") from exc
        text = response.get("SecretString")
        if text is None:
            raise ConfigurationError(secret_arn, f"secret {secret_arn} has no SecretString")
        self._cache[secret_arn] = text
        return text
