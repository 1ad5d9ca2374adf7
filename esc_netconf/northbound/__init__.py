"""esc_netconf.northbound"""
