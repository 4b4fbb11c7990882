"""``--llm azure``: Azure OpenAI through LangChain's ``AzureChatOpenAI``.

Azure routes by deployment, not model: requests go to
``{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...``
with an ``api-key`` header, or a Microsoft Entra ID bearer token.
Configuration comes from the flags or the environment variables Azure's own
tools use; a missing piece is named in one line.
"""

from __future__ import annotations

import os
from typing import Any

from .structured import Endpoint

DEFAULT_API_VERSION = "2024-10-21"  # GA version with structured outputs (json_schema)


def azure_chat(
    endpoint: str | None,
    deployment: str | None,
    api_version: str | None,
    api_key: str | None,
    common: dict[str, Any],
) -> tuple[Any, Endpoint]:
    """The chat model and where it points. ``common`` carries the shared
    settings (timeout, max_retries=0, max_tokens) from ``llm.py``."""
    from langchain_openai import AzureChatOpenAI

    from .llm import LLMError

    endpoint = endpoint or os.environ.get("AZURE_OPENAI_ENDPOINT")
    deployment = deployment or os.environ.get("AZURE_OPENAI_DEPLOYMENT")
    api_version = api_version or os.environ.get("OPENAI_API_VERSION") or DEFAULT_API_VERSION
    missing = [
        what
        for what, value in (
            ("AZURE_OPENAI_ENDPOINT or --base-url", endpoint),
            ("AZURE_OPENAI_DEPLOYMENT or --model", deployment),
        )
        if not value
    ]
    key_env, auth = "", {}
    if api_key:
        auth = {"api_key": api_key}
    elif os.environ.get("AZURE_OPENAI_API_KEY"):
        key_env, auth = "AZURE_OPENAI_API_KEY", {"api_key": os.environ["AZURE_OPENAI_API_KEY"]}
    elif os.environ.get("AZURE_OPENAI_AD_TOKEN"):
        # an Entra ID token (e.g. `az account get-access-token --resource
        # https://cognitiveservices.azure.com`), sent as a bearer token
        key_env = "AZURE_OPENAI_AD_TOKEN"
        auth = {"azure_ad_token": os.environ["AZURE_OPENAI_AD_TOKEN"]}
    else:
        missing.append("AZURE_OPENAI_API_KEY or AZURE_OPENAI_AD_TOKEN")
    if missing:
        raise LLMError(f"--llm azure needs {', '.join(missing)}", attempts=0, usage={})
    assert endpoint and deployment
    chat = AzureChatOpenAI(
        azure_endpoint=endpoint,
        azure_deployment=deployment,
        api_version=api_version,
        # AzureChatOpenAI would otherwise fall back to OPENAI_API_KEY, a key for another service
        api_key=auth.get("api_key"),  # type: ignore[arg-type]
        azure_ad_token=auth.get("azure_ad_token"),  # type: ignore[arg-type]
        model=deployment,
        **common,
    )
    url = f"{endpoint.rstrip('/')}/openai/deployments/{deployment}"
    return chat, Endpoint(url, deployment, key_env)
