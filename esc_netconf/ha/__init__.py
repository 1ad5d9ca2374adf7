"""Several servers on one PostgreSQL (CONTRACT section 8): a member's lease loops (``member``), who else is
connected (``presence``), a standby's listeners and reads (``standby``, ``standby_reads``), the clean
handover (``switchover``) and the ESC_IN_SERVICE / ESC_OUT_OF_SERVICE events (``service_events``). The
leadership primitive itself is the store's (``esc_netconf.store.leadership``)."""

STANDBY_CAPABILITY = "urn:esc-netconf:ha:standby"
"""Announced in a standby's ``<hello>``, so a client given several hosts (``esc_nc_cli --host a,b``) can
pass a standby over without sending it a request it would refuse."""
