#!/usr/bin/env python3
"""Delete every server, volume snapshot and volume, and every image but the seeded catalog, in the local cloud.

For a developer whose test run was interrupted: `OS_CLIENT_CONFIG_FILE=/tmp/local-openstack/clouds.yaml
/usr/bin/python3 scripts/local-openstack/wipe.py` (admin, forced), then the cloud is as `up.sh` seeded it.
"""
import os, time
os.environ.setdefault('OS_CLIENT_CONFIG_FILE', '/tmp/local-openstack/clouds.yaml')
import openstack
c = openstack.connect(cloud='local')
bs = c.block_storage
for s in list(c.compute.servers(all_projects=True)):
    try:
        c.compute.reset_server_state(s, 'active') if s.status == 'ERROR' else None
    except Exception: pass
    c.compute.delete_server(s, force=True)
for s in list(c.compute.servers(all_projects=True)):
    c.compute.wait_for_delete(s, wait=120)
for sn in list(bs.snapshots(all_projects=True)):
    try:
        bs.delete_snapshot(sn, force=True)
    except Exception:
        bs.reset_snapshot_status(sn, 'available'); bs.delete_snapshot(sn)
for sn in list(bs.snapshots(all_projects=True)):
    bs.wait_for_delete(sn, wait=60)
for v in list(bs.volumes(all_projects=True)):
    if v.status not in ('available', 'error'):
        bs.reset_volume_status(v, status='available', attach_status='detached', migration_status=None)
    bs.delete_volume(v, force=True)
for v in list(bs.volumes(all_projects=True)):
    bs.wait_for_delete(v, wait=60)
CATALOG_IMAGES = {"cirros", "ubuntu-22.04"}
for i in list(c.image.images()):
    if i.name in CATALOG_IMAGES:
        continue
    if i.is_protected:
        c.image.update_image(i, is_protected=False)
    c.image.delete_image(i)
print('wiped')
