"""The deploy documentation (docs/deploy.md, and the README's short deploy section) covers what
a first deploy and its operation need."""

from __future__ import annotations

import re

from analytics_infra.settings import DEFAULTS
from analytics_infra.stack import NO_FUNCTION_URL_REGIONS

from tests.deploy.conftest import REPO

DOC = REPO / "docs" / "deploy.md"
README = REPO / "README.md"


def _text() -> str:
    return DOC.read_text(encoding="utf-8")


def _readme_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Deploying to AWS")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_every_context_value_is_documented() -> None:
    """Each context key the app reads appears in the context table, in backticks."""
    text = _text()
    missing = [key for key in DEFAULTS if f"`{key}`" not in text]
    assert missing == []


def test_deploy_doc_covers_a_deploy_and_its_operation() -> None:
    """The document has prerequisites, the deploy command, the migration trigger, key rotation,
    failed-batch replay and a monthly cost for 10 million events."""
    text = _text()
    headings = re.findall(r"^###? (.+)$", text, re.MULTILINE)
    for wanted in (
        "Prerequisites",
        "Context values",
        "Deploying",
        "migration trigger",
        "Rotating the Firehose access key",
        "Failed batches and replay",
        "costs",
    ):
        assert any(wanted in heading for heading in headings), wanted
    assert "npx cdk deploy -c deploy=true" in text
    assert "python deploy/package_lambda.py" in text
    assert "analytics replay s3://<AnalyticsBucketName>/http-firehose-failures/" in text
    assert "put-secret-value" in text
    assert "10 million" in text


def test_deploy_doc_covers_a_safe_first_deploy() -> None:
    """The pinned CLI is installed before bootstrap, CI deploys without the interactive
    approval, the regions without Function URLs are named, and the deletion-protection
    choice, the origin secret's rotation and the expand-then-contract rule are written down."""
    text = _text()
    assert text.index("npm ci") < text.index("npx cdk bootstrap")
    assert "--require-approval never" in text
    missing = [region for region in NO_FUNCTION_URL_REGIONS if f"`{region}`" not in text]
    assert missing == []
    headings = re.findall(r"^###? (.+)$", text, re.MULTILINE)
    for wanted in (
        "deletion protection",
        "Ingest only through CloudFront",
        "Rotating the origin secret",
        "Flood protection",
        "Iceberg table maintenance",
        "cfn-lint and checkov",
    ):
        assert any(wanted in heading for heading in headings), wanted
    assert "expand, then contract" in text
    assert "--no-deletion-protection" in text
    assert "origin_secret_version_id" in text
    assert "X-Origin-Verify" in text
    assert f"`{DEFAULTS['aurora_postgres_version']}`" in text


def test_readme_deploy_section_gives_the_commands_in_order() -> None:
    """The README's short deploy section runs npm ci, bootstrap, then a deploy without the
    interactive approval, and links the full deploy documentation."""
    text = _readme_section()
    order = ["python deploy/package_lambda.py", "npm ci", "npx cdk bootstrap", "npx cdk deploy"]
    positions = [text.find(step) for step in order]
    assert all(p >= 0 for p in positions), dict(zip(order, positions, strict=True))
    assert positions == sorted(positions)
    assert "--require-approval never" in text
    assert "(docs/deploy.md)" in text
