"""What a user agent says, as far as it is kept: browser, OS, device type, and whether it is a
bot (values only; `ports.UserAgentParser` classifies, `enrichment` uses the result)."""

from __future__ import annotations

from enum import StrEnum

import attrs


class DeviceType(StrEnum):
    """The kinds of device the dashboard tells apart."""

    DESKTOP = "desktop"
    MOBILE = "mobile"
    TABLET = "tablet"


@attrs.frozen
class UserAgentInfo:
    """What a user agent string says, as far as we keep it."""

    browser: str | None = None
    os: str | None = None
    device: DeviceType | None = None
    is_bot: bool = False


BOT = UserAgentInfo(is_bot=True)
