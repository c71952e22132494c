"""Where an IP address is, from a MaxMind GeoIP2 (or GeoLite2) City database (`GeoLookup`).

Used only when CloudFront sent no viewer geo headers (requests reaching the collect endpoint
without CloudFront, e.g. a Function URL called directly). The database file is memory-mapped
once per container. Unknown, private and malformed addresses give None, never an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geoip2.database
import geoip2.errors
import maxminddb

from analytics_core.envelopes import Geo
from analytics_core.errors import ConfigurationError


class GeoIP2CityLookup:
    """Lookups in a GeoIP2 City reader; the country's first-level subdivision is the region."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader

    @classmethod
    def from_path(cls, path: str, setting: str = "GEOIP_CITY_DB") -> GeoIP2CityLookup:
        """Open the database at `path` (a City database), or stop with `ConfigurationError`."""
        if not Path(path).is_file():
            raise ConfigurationError(setting, f"{setting}: no such file: {path}")
        try:
            reader = geoip2.database.Reader(path)
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            raise ConfigurationError(setting, f"{setting}: not a GeoIP2 database: {exc}") from exc
        if "City" not in reader.metadata().database_type:
            reader.close()
            raise ConfigurationError(setting, f"{setting}: not a City database: {path}")
        return cls(reader)

    def lookup(self, ip: str) -> Geo | None:
        """The address's country, region and city (English), when the database knows them."""
        try:
            found = self._reader.city(ip)
        except (geoip2.errors.AddressNotFoundError, ValueError, TypeError):
            return None
        country = found.country.iso_code
        if country is None:
            return None
        subdivisions = found.subdivisions
        region = subdivisions[0].iso_code if len(subdivisions) > 0 else None
        return Geo(country=country, region=region, city=found.city.names.get("en"))

    def close(self) -> None:
        """Release the memory map."""
        self._reader.close()
