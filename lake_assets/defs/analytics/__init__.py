"""Assets built on the lake: every asset defined in a module of this package joins the code location.

Two examples ship here, written as a user would write them: :mod:`.returns` (one day of the curated
zone and the day before) and :mod:`.volatility` (a 20-day range of the returns). Both load their inputs
and store their outputs through the lake's IO manager, and ``keep_current()`` materialises them under
the daemon and in ``lake run``. A new module dropped here needs no other code (README, "Build on the lake").
"""
