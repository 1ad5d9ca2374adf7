"""Several servers on one PostgreSQL (CONTRACT section 8): the lease loop of a member and a standby's
listeners. The leadership primitive itself is the store's (``esc_netconf.store.leadership``)."""

STANDBY_CAPABILITY = "urn:esc-netconf:ha:standby"
"""Announced in a standby's ``<hello>``, so a client given several hosts (``esc_nc_cli --host a,b``) can
pass a standby over without sending it a request it would refuse."""
