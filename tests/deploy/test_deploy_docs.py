"""The README's deploy section covers what issue 6 asks for."""

from __future__ import annotations

import re

from analytics_infra.settings import DEFAULTS

from tests.deploy.conftest import REPO

DOC = REPO / "README.md"


def _text() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("## Deploying to AWS")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_every_context_value_is_documented() -> None:
    """Each context key the app reads appears in the context table, in backticks."""
    text = _text()
    missing = [key for key in DEFAULTS if f"`{key}`" not in text]
    assert missing == []


def test_deploy_section_covers_the_issue() -> None:
    """The section has prerequisites, the deploy command, the migration trigger, key rotation,
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
