#!/usr/bin/python3
"""Seed the local cloud with the catalog esc-netconf's tests use (names as in esc_netconf/vim/sim/catalog.py).

Run by up.sh with Debian's python3 (its openstacksdk), OS_CLIENT_CONFIG_FILE pointing at the local cloud.
Idempotent: what already exists is left alone, so it can be re-run after wipe.py.
"""
import io
import os

import openstack

FLAVORS = (("m1.tiny", 1, 512, 1), ("m1.small", 1, 2048, 20), ("m1.medium", 2, 4096, 40), ("m1.large", 4, 8192, 80))
# (name, payload bytes, min_disk GB, min_ram MB, os_distro); raw payloads: the fake virt driver boots nothing
IMAGES = (("cirros", 1 << 20, 0, 0, "cirros"), ("ubuntu-22.04", 2 << 20, 3, 512, "ubuntu"))
VOLUME_TYPES = ("LVM",)
NETWORKS = (("net-mgmt", "10.10.0.0/16"), ("net-data", "10.20.0.0/16"))


def main() -> None:
    c = openstack.connect(cloud=os.environ.get("OS_CLOUD", "local"))
    for name, vcpus, ram, disk in FLAVORS:
        if not c.compute.find_flavor(name):
            c.compute.create_flavor(name=name, vcpus=vcpus, ram=ram, disk=disk, is_public=True)
    for name, size, min_disk, min_ram, distro in IMAGES:
        if not c.image.find_image(name):
            payload = (b"esc-netconf local cloud image %s\n" % name.encode()).ljust(size, b"\0")
            c.image.create_image(name=name, disk_format="raw", container_format="bare", visibility="public",
                                 min_disk=min_disk, min_ram=min_ram, os_distro=distro, data=io.BytesIO(payload))
    for name, cidr in NETWORKS:
        net = c.network.find_network(name) or c.network.create_network(name=name, shared=True)
        if not list(c.network.subnets(network_id=net.id)):
            c.network.create_subnet(network_id=net.id, name=f"{name}-subnet", ip_version=4, cidr=cidr)
    # ESC deployments name Cinder volume types (the seed's examples say LVM); a real cloud defines them
    for volume_type in VOLUME_TYPES:
        if not c.block_storage.find_type(volume_type):
            c.block_storage.create_type(name=volume_type, extra_specs={"volume_backend_name": "fake"})
    # every project (the tests make one per test) gets unlimited compute and volume quotas
    c.compute.put("/os-quota-class-sets/default",
                  json={"quota_class_set": {"instances": -1, "cores": -1, "ram": -1}})
    c.block_storage.put("/os-quota-class-sets/default",
                        json={"quota_class_set": {"volumes": -1, "snapshots": -1, "gigabytes": -1}})
    print("seeded")


if __name__ == "__main__":
    main()
