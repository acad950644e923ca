"""The automation sensor: it keeps the assets built on the lake (:mod:`.analytics`) current."""

from lake_assets.orchestration.automation import build_automation_sensor

automation_sensor = build_automation_sensor()
