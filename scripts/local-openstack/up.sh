#!/bin/bash
# scripts/local-openstack/up.sh -- a real OpenStack Zed control plane on 127.0.0.1, from Debian bookworm packages,
# for esc-netconf's functional tier (`make openstack-up`, `make test-openstack`, `make openstack-down`).
#
#   MariaDB + RabbitMQ (started by hand), Keystone, Placement, Glance (file store), Neutron (ML2, no agents),
#   Nova (api/conductor/scheduler/compute with a FakeDriver subclass), Cinder (api/scheduler/volume, fake backend).
#
# Everything lives under $OSREAL_ROOT (default /tmp/local-openstack); every listener is bound to 127.0.0.1.
# No systemd, no Docker. Needs root on Debian 12 (apt-get installs what is missing, once).
#
# Idempotent: when the cloud is already up (every service process alive, every API answering, clouds.yaml
# written) it says so and exits 0 in about a second. Otherwise (nothing running, or a half-dead cloud) it
# stops whatever is left and rebuilds from empty databases. `up.sh --rebuild` always rebuilds.
# Then:  OS_CLIENT_CONFIG_FILE=$OSREAL_ROOT/clouds.yaml, cloud 'local' (admin/admin).
# Stop:  ./down.sh [--purge]
# Adapted from the shared recipe (shared/openstack-dev/setup.sh); see README.md beside this file.
set -euo pipefail
R=${OSREAL_ROOT:-/tmp/local-openstack}  # everything (configs, DBs, logs, pids) lives here
export OSREAL_ROOT=$R
PY=/usr/bin/python3           # Debian's python (the OpenStack libs live in /usr/lib/python3/dist-packages)
HERE=$(cd "$(dirname "$0")" && pwd)
T0=$(date +%s)
log() { echo "[local-openstack +$(( $(date +%s) - T0 ))s] $*"; }
die() { echo "[local-openstack] FAILED: $*" >&2; exit 1; }

SERVICES="mysqld rabbit keystone placement glance-api neutron-server nova-api nova-conductor nova-scheduler
          nova-compute cinder-api cinder-scheduler cinder-volume"
is_up() {   # every pid alive, every API answering, a clouds.yaml, and the seed done
  [ -f $R/clouds.yaml ] && [ -f $R/run/seeded ] || return 1
  for s in $SERVICES; do [ -f $R/run/$s.pid ] && kill -0 "$(cat $R/run/$s.pid)" 2>/dev/null || return 1; done
  for u in 5000/v3 8778/ 9292/ 9696/ 8774/ 8776/; do
    curl -sf -m 3 -o /dev/null http://127.0.0.1:$u || return 1
  done
}
if [ "${1:-}" != --rebuild ] && command -v curl >/dev/null && is_up; then
  log "already up: OS_CLIENT_CONFIG_FILE=$R/clouds.yaml, cloud 'local' (admin/admin)"
  exit 0
fi

mkdir -p $R/logs $R/run
OSREAL_ROOT=$R "$HERE/down.sh" --purge >/dev/null 2>&1 || true
mkdir -p $R/{logs,run,bin,wsgi,pylib/nova_virt_ext,pylib/osreal_shims-0.1.dist-info,debs,debx,mysql,rabbit/home,rabbit/mnesia,rabbit/log} \
         $R/etc/{keystone,placement,glance,nova,cinder,neutron/plugins/ml2} \
         $R/data/{glance/images,glance/staging,glance/tasks,nova/instances,cinder,neutron} \
         $R/lock/{nova,glance,cinder,neutron,placement}

# ---------------------------------------------------------------- 1. packages
PKGS="python3-keystone python3-nova python3-glance python3-cinder python3-placement python3-neutron
      python3-pymysql python3-gunicorn rabbitmq-server mariadb-server curl"
if [ "${OSREAL_FORCE_APT:-0}" = 1 ] || ! dpkg -s $PKGS >/dev/null 2>&1; then
  log "apt-get install (OpenStack Zed python libs, rabbitmq, mariadb)"
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then   # keep postinst scripts from starting system daemons
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; made_policy=1
  fi
  apt-get update -qq > $R/logs/apt.log 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $PKGS >> $R/logs/apt.log 2>&1 \
    || die "apt-get install (see $R/logs/apt.log)"
  if [ $made_policy = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
# The api-paste.ini files are only in the service packages (nova-common, ...), whose postinsts want
# systemd/dbconfig; fetch those .debs and just unpack them.
if [ ! -f $R/debx/usr/share/glance-common/glance-api-paste.ini ]; then
  log "fetching paste.ini files from nova-common/glance-common/cinder-common/neutron-common .debs"
  (cd $R/debs && { apt-get download nova-common glance-common cinder-common neutron-common >/dev/null 2>&1 ||
                   { apt-get update -qq && apt-get download nova-common glance-common cinder-common neutron-common >/dev/null; }; })
  for f in $R/debs/*.deb; do dpkg-deb -x "$f" $R/debx; done
fi
cp $R/debx/usr/share/nova-common/api-paste.ini $R/etc/nova/
cp $R/debx/usr/share/cinder-common/api-paste.ini $R/etc/cinder/
cp $R/debx/usr/share/glance-common/glance-api-paste.ini $R/etc/glance/
cp $R/debx/usr/share/neutron-common/api-paste.ini $R/etc/neutron/
cp $R/debx/etc/cinder/rootwrap.conf $R/etc/cinder/

# ---------------------------------------------------------------- 2. helpers, wsgi files, shims
cat > $R/svc.sh <<'EOF'
#!/bin/bash
# svc.sh start NAME cmd...  |  svc.sh stop NAME      (each service is its own session/process group)
R=${OSREAL_ROOT:-/tmp/local-openstack}; act=$1; name=$2; shift 2
case $act in
 start) cd $R; setsid nohup "$@" > $R/logs/$name.out 2>&1 < /dev/null & echo $! > $R/run/$name.pid ;;
 stop)  [ -f $R/run/$name.pid ] || exit 0; pid=$(cat $R/run/$name.pid)
        kill -TERM -- -$pid 2>/dev/null || kill -TERM $pid 2>/dev/null
        for i in $(seq 40); do kill -0 $pid 2>/dev/null || break; sleep 0.25; done
        kill -KILL -- -$pid 2>/dev/null; rm -f $R/run/$name.pid ;;
esac
EOF
chmod +x $R/svc.sh
cat > $R/bin/run.py <<'EOF'
#!/usr/bin/python3
"""run.py PROG module:func [args...] -- run an OpenStack console entry point by hand."""
import importlib, sys
prog, target = sys.argv[1], sys.argv[2]
sys.argv = [prog] + sys.argv[3:]
mod, func = target.split(':')
m = importlib.import_module(mod)
if prog == 'nova-compute':   # nova only loads compute drivers from the nova.virt namespace
    import nova.virt
    nova.virt.__path__.append('/tmp/local-openstack/pylib/nova_virt_ext')
sys.exit(getattr(m, func)())
EOF
cat > $R/wsgi/keystone_public.py <<'EOF'
import os, sys
sys.argv = sys.argv[:1]
os.environ.setdefault('OS_KEYSTONE_CONFIG_FILES', '/tmp/local-openstack/etc/keystone/keystone.conf')
from keystone.server.wsgi import initialize_public_application
application = initialize_public_application()
EOF
cat > $R/wsgi/placement_api.py <<'EOF'
import os, sys
sys.argv = sys.argv[:1]
os.environ.setdefault('OS_PLACEMENT_CONFIG_DIR', '/tmp/local-openstack/etc/placement')
from placement.wsgi import init_application
application = init_application()
EOF
cat > $R/pylib/nova_virt_ext/osreal_fake.py <<'EOF'
"""nova.virt.osreal_fake: nova's FakeDriver + a snapshot() that really uploads bytes to Glance.

Upstream FakeDriver.snapshot() never uploads image data, so the Glance image created by the
createImage action stays 'queued' forever. This does what the libvirt driver does
(image_api.update(..., data)) with a tiny fake disk payload, so the image goes 'active'.
"""
import io

from nova.compute import task_states
from nova import exception
from nova.image import glance
from nova.virt import fake


class SnapshotFakeDriver(fake.FakeDriver):
    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi, read_only)
        self._image_api = glance.API()

    def snapshot(self, context, instance, image_id, update_task_state):
        if instance.uuid not in self.instances:
            raise exception.InstanceNotRunning(instance_id=instance.uuid)
        update_task_state(task_state=task_states.IMAGE_PENDING_UPLOAD)
        snap = self._image_api.get(context, image_id)
        metadata = {
            'status': 'active',
            'name': snap['name'],
            'disk_format': 'raw',
            'container_format': 'bare',
            'properties': {'image_location': 'snapshot', 'image_state': 'available',
                           'owner_id': instance.project_id},
        }
        update_task_state(task_state=task_states.IMAGE_UPLOADING,
                          expected_state=task_states.IMAGE_PENDING_UPLOAD)
        payload = (b'osreal fake snapshot of %s\n' % instance.uuid.encode()).ljust(65536, b'\0')
        self._image_api.update(context, image_id, metadata, io.BytesIO(payload),
                               purge_props=False)
EOF
cat > $R/pylib/osreal_cinder.py <<'EOF'
"""Cinder backend for a sandbox with no LVM/iSCSI: cinder's own packaged FakeLoggingVolumeDriver
(cinder.tests.fake_driver, used by cinder's functional tests) plus image<->volume copies that
just move bytes through Glance instead of writing to a block device."""
import io

from oslo_log import log as logging

from cinder.tests import fake_driver

LOG = logging.getLogger(__name__)


class FakeVolumeDriver(fake_driver.FakeLoggingVolumeDriver):
    def do_setup(self, context):
        pass

    def copy_image_to_volume(self, context, volume, image_service, image_id, disk_format=None):
        n = 0
        for chunk in image_service.download(context, image_id) or []:
            n += len(chunk)
        LOG.info('fake copy_image_to_volume: %s bytes of image %s -> volume %s', n, image_id, volume.id)

    def copy_volume_to_image(self, context, volume, image_service, image_meta):
        payload = (b'osreal fake volume %s\n' % volume.id.encode()).ljust(65536, b'\0')
        image_service.update(context, image_meta['id'], {}, io.BytesIO(payload))

    def _update_volume_stats(self):
        super()._update_volume_stats()
        self._stats.update({'total_capacity_gb': 10000, 'free_capacity_gb': 10000,
                            'provisioned_capacity_gb': 0, 'thin_provisioning_support': True,
                            'max_over_subscription_ratio': 20.0, 'reserved_percentage': 0,
                            'multiattach': True, 'volume_backend_name': 'fake'})
EOF
cat > $R/pylib/osreal_neutron.py <<'EOF'
"""ML2 mechanism driver that binds every port (no OVS/linuxbridge agents in this sandbox)."""
from neutron_lib.api.definitions import portbindings
from neutron_lib import constants
from neutron_lib.plugins.ml2 import api


class BindAllMechanismDriver(api.MechanismDriver):
    def initialize(self):
        pass

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(segment[api.ID], portbindings.VIF_TYPE_OVS,
                                {portbindings.CAP_PORT_FILTER: False},
                                status=constants.PORT_STATUS_ACTIVE)
            return
EOF
printf 'Metadata-Version: 2.1\nName: osreal-shims\nVersion: 0.1\n' > $R/pylib/osreal_shims-0.1.dist-info/METADATA
printf '[neutron.ml2.mechanism_drivers]\nosreal_bindall = osreal_neutron:BindAllMechanismDriver\n' \
  > $R/pylib/osreal_shims-0.1.dist-info/entry_points.txt

sed -i "s#/tmp/local-openstack#$R#g" $R/bin/run.py $R/wsgi/*.py

# ---------------------------------------------------------------- 3. configs
DB=mysql+pymysql://os:os@127.0.0.1
TURL=rabbit://guest:guest@127.0.0.1:5672/
authtoken() { cat <<EOF
[keystone_authtoken]
www_authenticate_uri = http://127.0.0.1:5000/
auth_url = http://127.0.0.1:5000/
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $1
service_token_roles_required = true
EOF
}
svcauth() { cat <<EOF
[$1]
auth_url = http://127.0.0.1:5000/
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $2
password = $2
region_name = RegionOne
EOF
}
cat > $R/etc/keystone/keystone.conf <<EOF
[DEFAULT]
log_file = $R/logs/keystone.log
[database]
connection = $DB/keystone?charset=utf8
[token]
provider = fernet
expiration = 86400
[fernet_tokens]
key_repository = $R/etc/keystone/fernet-keys
[fernet_receipts]
key_repository = $R/etc/keystone/fernet-keys
[credential]
key_repository = $R/etc/keystone/credential-keys
EOF
{ cat <<EOF
[DEFAULT]
log_file = $R/logs/placement.log
[api]
auth_strategy = keystone
[placement_database]
connection = $DB/placement?charset=utf8
EOF
authtoken placement; } > $R/etc/placement/placement.conf
{ cat <<EOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = 9292
workers = 1
log_file = $R/logs/glance-api.log
enabled_backends = fs:file
[database]
connection = $DB/glance?charset=utf8
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $R/data/glance/images
[os_glance_staging_store]
filesystem_store_datadir = $R/data/glance/staging
[os_glance_tasks_store]
filesystem_store_datadir = $R/data/glance/tasks
[paste_deploy]
flavor = keystone
config_file = $R/etc/glance/glance-api-paste.ini
[oslo_concurrency]
lock_path = $R/lock/glance
EOF
authtoken glance; } > $R/etc/glance/glance-api.conf
{ cat <<EOF
[DEFAULT]
transport_url = $TURL
compute_driver = osreal_fake.SnapshotFakeDriver
host = osreal-compute
my_ip = 127.0.0.1
state_path = $R/data/nova
instances_path = $R/data/nova/instances
enabled_apis = osapi_compute
osapi_compute_listen = 127.0.0.1
osapi_compute_listen_port = 8774
osapi_compute_workers = 1
metadata_listen = 127.0.0.1
metadata_workers = 1
heal_instance_info_cache_interval = -1
[api]
auth_strategy = keystone
[api_database]
connection = $DB/nova_api?charset=utf8
[database]
connection = $DB/nova?charset=utf8
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = 5
[filter_scheduler]
enabled_filters = ComputeFilter,ComputeCapabilitiesFilter,ImagePropertiesFilter
[wsgi]
api_paste_config = $R/etc/nova/api-paste.ini
[oslo_concurrency]
lock_path = $R/lock/nova
[oslo_messaging_notifications]
driver = noop
[vnc]
enabled = false
[glance]
region_name = RegionOne
[cinder]
os_region_name = RegionOne
catalog_info = volumev3::publicURL
auth_url = http://127.0.0.1:5000/
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = nova
password = nova
[service_user]
# required: cinder (OSSA-2023-003 fix in Debian) refuses attachment deletes without a nova service token
send_service_user_token = true
auth_url = http://127.0.0.1:5000/
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = nova
password = nova
EOF
authtoken nova; svcauth placement placement; svcauth neutron neutron; } > $R/etc/nova/nova.conf
{ cat <<EOF
[DEFAULT]
transport_url = $TURL
auth_strategy = keystone
my_ip = 127.0.0.1
host = osreal-volume
state_path = $R/data/cinder
api_paste_config = $R/etc/cinder/api-paste.ini
osapi_volume_listen = 127.0.0.1
osapi_volume_listen_port = 8776
osapi_volume_workers = 1
# cinder-volume pushes its pool capabilities to the scheduler on this period (default 60 s)
periodic_interval = 10
enabled_backends = fake
glance_api_servers = http://127.0.0.1:9292
rootwrap_config = $R/etc/cinder/rootwrap.conf
[fake]
volume_driver = osreal_cinder.FakeVolumeDriver
volume_backend_name = fake
target_helper = fake
[database]
connection = $DB/cinder?charset=utf8
[oslo_concurrency]
lock_path = $R/lock/cinder
[oslo_messaging_notifications]
driver = noop
EOF
authtoken cinder; svcauth nova cinder; } > $R/etc/cinder/cinder.conf
{ cat <<EOF
[DEFAULT]
transport_url = $TURL
core_plugin = ml2
service_plugins =
auth_strategy = keystone
bind_host = 127.0.0.1
bind_port = 9696
api_workers = 1
rpc_workers = 0
rpc_state_report_workers = 0
state_path = $R/data/neutron
log_file = $R/logs/neutron-server.log
api_paste_config = $R/etc/neutron/api-paste.ini
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
dhcp_agent_notification = false
[database]
connection = $DB/neutron?charset=utf8
[oslo_concurrency]
lock_path = $R/lock/neutron
[oslo_messaging_notifications]
driver = noop
EOF
authtoken neutron; svcauth nova neutron; } > $R/etc/neutron/neutron.conf
cat > $R/etc/neutron/plugins/ml2/ml2_conf.ini <<EOF
[ml2]
type_drivers = flat,vxlan
tenant_network_types = vxlan
mechanism_drivers = osreal_bindall
extension_drivers = port_security
[ml2_type_flat]
flat_networks = *
[ml2_type_vxlan]
vni_ranges = 1:1000
EOF

# ---------------------------------------------------------------- 4. MariaDB + RabbitMQ (by hand)
cat > $R/mysql/my.cnf <<EOF
[mysqld]
user = root
datadir = $R/mysql/data
socket = $R/mysql/mysqld.sock
pid-file = $R/mysql/mysqld.pid
bind-address = 127.0.0.1
port = 3306
skip-name-resolve
max_connections = 1000
innodb_buffer_pool_size = 128M
innodb_flush_log_at_trx_commit = 2
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
log-error = $R/logs/mysqld.err
[client]
socket = $R/mysql/mysqld.sock
EOF
cat > $R/rabbit/env.sh <<EOF
export HOME=$R/rabbit/home
export RABBITMQ_NODENAME=rabbit@localhost
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT=5672
export RABBITMQ_DIST_PORT=25672
export ERL_EPMD_ADDRESS=127.0.0.1
export ERL_EPMD_PORT=4369
export RABBITMQ_MNESIA_BASE=$R/rabbit/mnesia
export RABBITMQ_LOG_BASE=$R/rabbit/log
export RABBITMQ_ENABLED_PLUGINS_FILE=$R/rabbit/enabled_plugins
export RABBITMQ_CONFIG_FILE=$R/rabbit/rabbitmq
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
EOF
echo '[].' > $R/rabbit/enabled_plugins
printf 'listeners.tcp.1 = 127.0.0.1:5672\n' > $R/rabbit/rabbitmq.conf
for port in 3306 4369 5672 5000 8774 8776 8778 9292 9696; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then die "127.0.0.1:$port already in use"; fi
done
log "starting MariaDB + RabbitMQ"
rm -rf $R/mysql/data
mariadb-install-db --defaults-file=$R/mysql/my.cnf --user=root --auth-root-authentication-method=normal \
  > $R/logs/mysql-install.log 2>&1 || die "mariadb-install-db"
$R/svc.sh start mysqld /usr/sbin/mariadbd --defaults-file=$R/mysql/my.cnf
( . $R/rabbit/env.sh; $R/svc.sh start rabbit /usr/lib/rabbitmq/bin/rabbitmq-server )
M="mariadb --defaults-file=$R/mysql/my.cnf -uroot"
for i in $(seq 60); do $M -e 'select 1' >/dev/null 2>&1 && break; sleep 0.5; done
for db in keystone glance nova_api nova nova_cell0 placement cinder neutron; do
  $M -e "CREATE DATABASE $db CHARACTER SET utf8mb4;"
done
$M -e "CREATE USER 'os'@'127.0.0.1' IDENTIFIED BY 'os'; CREATE USER 'os'@'localhost' IDENTIFIED BY 'os';
       GRANT ALL ON *.* TO 'os'@'127.0.0.1'; GRANT ALL ON *.* TO 'os'@'localhost'; FLUSH PRIVILEGES;"

run() { $PY $R/bin/run.py "$@"; }
wait_http() { for i in $(seq ${2:-120}); do curl -sf -o /dev/null "$1" && return 0; sleep 0.5; done; die "$1 not answering"; }

# ---------------------------------------------------------------- 5. Keystone
log "keystone db_sync + bootstrap"
KC="--config-file $R/etc/keystone/keystone.conf"
{ keystone-manage $KC db_sync &&
  keystone-manage $KC fernet_setup --keystone-user root --keystone-group root &&
  keystone-manage $KC credential_setup --keystone-user root --keystone-group root &&
  keystone-manage $KC bootstrap --bootstrap-password admin --bootstrap-region-id RegionOne \
    --bootstrap-admin-url http://127.0.0.1:5000/v3/ --bootstrap-internal-url http://127.0.0.1:5000/v3/ \
    --bootstrap-public-url http://127.0.0.1:5000/v3/ ; } > $R/logs/keystone-manage.out 2>&1 || die "keystone-manage"
$R/svc.sh start keystone env PYTHONPATH=$R/wsgi $PY -m gunicorn -b 127.0.0.1:5000 -w 1 --threads 8 \
  --timeout 120 --chdir $R/wsgi keystone_public:application

# ---------------------------------------------------------------- 6. other DB schemas (in parallel)
log "db sync: placement, glance, neutron, nova, cinder"
NC="--config-file $R/etc/nova/nova.conf"
NEU="--config-file $R/etc/neutron/neutron.conf --config-file $R/etc/neutron/plugins/ml2/ml2_conf.ini"
CC="--config-file $R/etc/cinder/cinder.conf"
( until (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; do sleep 0.5; done   # create_cell checks nothing, but be safe
  run nova-manage nova.cmd.manage:main $NC api_db sync &&
  run nova-manage nova.cmd.manage:main $NC cell_v2 map_cell0 --database_connection "$DB/nova_cell0?charset=utf8" &&
  run nova-manage nova.cmd.manage:main $NC cell_v2 create_cell --name cell1 &&
  run nova-manage nova.cmd.manage:main $NC db sync ) > $R/logs/nova-manage.out 2>&1 & p_nova=$!
placement-manage --config-file $R/etc/placement/placement.conf db sync > $R/logs/placement-manage.out 2>&1 & p_pl=$!
run glance-manage glance.cmd.manage:main --config-file $R/etc/glance/glance-api.conf db_sync > $R/logs/glance-manage.out 2>&1 & p_gl=$!
run neutron-db-manage neutron.db.migration.cli:main $NEU upgrade heads > $R/logs/neutron-db-manage.out 2>&1 & p_ne=$!
run cinder-manage cinder.cmd.manage:main $CC --log-file $R/logs/cinder-manage.log db sync > $R/logs/cinder-manage.out 2>&1 & p_ci=$!
wait $p_pl || die "placement db sync"; wait $p_gl || die "glance db sync"; wait $p_ne || die "neutron db"
wait $p_ci || die "cinder db sync"; wait $p_nova || die "nova-manage (see $R/logs/nova-manage.out)"

# ---------------------------------------------------------------- 7. service users / catalog
wait_http http://127.0.0.1:5000/v3
log "keystone: service users, services, endpoints"
$PY - <<'EOF' > $R/logs/identity-bootstrap.out 2>&1 || die "identity bootstrap (see $R/logs/identity-bootstrap.out)"
import openstack
c = openstack.connect(auth_url='http://127.0.0.1:5000/v3', username='admin', password='admin',
                      project_name='admin', user_domain_id='default', project_domain_id='default',
                      region_name='RegionOne', identity_api_version='3')
idn = c.identity
byname = lambda gen, name: next((x for x in gen if x.name == name), None)
svc_proj = byname(idn.projects(), 'service') or idn.create_project(name='service', domain_id='default')
for r in ('member', 'reader', 'service'):
    if not byname(idn.roles(), r):
        idn.create_role(name=r)
admin_role, service_role = byname(idn.roles(), 'admin'), byname(idn.roles(), 'service')
for u in ('nova', 'glance', 'cinder', 'placement', 'neutron'):
    user = byname(idn.users(), u) or idn.create_user(name=u, password=u, domain_id='default')
    c.grant_role(admin_role.id, user=user.id, project=svc_proj.id)
    c.grant_role(service_role.id, user=user.id, project=svc_proj.id)
for name, stype, url in [
        ('nova', 'compute', 'http://127.0.0.1:8774/v2.1'),
        ('glance', 'image', 'http://127.0.0.1:9292'),
        ('placement', 'placement', 'http://127.0.0.1:8778'),
        ('cinderv3', 'volumev3', 'http://127.0.0.1:8776/v3/%(project_id)s'),
        ('cinder', 'block-storage', 'http://127.0.0.1:8776/v3/%(project_id)s'),
        ('neutron', 'network', 'http://127.0.0.1:9696')]:
    s = idn.create_service(name=name, type=stype, is_enabled=True)
    for iface in ('public', 'internal', 'admin'):
        idn.create_endpoint(service_id=s.id, interface=iface, url=url, region_id='RegionOne')
print('ok')
EOF

# ---------------------------------------------------------------- 8. start services
log "starting placement, glance, neutron, nova, cinder"
$R/svc.sh start placement env PYTHONPATH=$R/wsgi $PY -m gunicorn -b 127.0.0.1:8778 -w 1 --threads 8 \
  --timeout 120 --chdir $R/wsgi placement_api:application
$R/svc.sh start glance-api $PY $R/bin/run.py glance-api glance.cmd.api:main --config-file $R/etc/glance/glance-api.conf
$R/svc.sh start neutron-server env PYTHONPATH=$R/pylib $PY $R/bin/run.py neutron-server \
  neutron.cmd.eventlet.server:main $NEU
( . $R/rabbit/env.sh; /usr/lib/rabbitmq/bin/rabbitmqctl await_startup --timeout 120 >/dev/null ) || die "rabbitmq"
for s in api conductor scheduler compute; do
  $R/svc.sh start nova-$s $PY $R/bin/run.py nova-$s nova.cmd.$s:main $NC --log-file $R/logs/nova-$s.log
done
for s in api scheduler volume; do
  $R/svc.sh start cinder-$s env PYTHONPATH=$R/pylib $PY $R/bin/run.py cinder-$s cinder.cmd.$s:main $CC \
    --log-file $R/logs/cinder-$s.log
done

cat > $R/clouds.yaml <<'EOF'
clouds:
  local:
    auth:
      auth_url: http://127.0.0.1:5000/v3
      username: admin
      password: admin
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    identity_api_version: 3
    interface: public
EOF

for u in http://127.0.0.1:8778/ http://127.0.0.1:9292/ http://127.0.0.1:9696/ http://127.0.0.1:8774/ http://127.0.0.1:8776/; do
  wait_http $u 240
done
log "waiting for nova-compute + cinder-volume to report up, mapping the compute host"
OS_CLIENT_CONFIG_FILE=$R/clouds.yaml $PY - <<'EOF' > $R/logs/wait-ready.out 2>&1 || die "services not up (see $R/logs/wait-ready.out)"
import os, time, subprocess, openstack
c = openstack.connect(cloud='local')
def up(svcs, binary):
    return any(s['binary'] == binary and s['state'] == 'up' and s['status'] == 'enabled' for s in svcs)
def svcs(proxy, url):
    return proxy.get(url).json()['services']
end = time.time() + 180
while not (up(svcs(c.compute, '/os-services'), 'nova-compute') and
           up(svcs(c.block_storage, '/os-services'), 'cinder-volume')):
    if time.time() > end: raise SystemExit('timeout waiting for nova-compute/cinder-volume')
    time.sleep(1)
R = os.environ['OSREAL_ROOT']
subprocess.run(['/usr/bin/python3', R + '/bin/run.py', 'nova-manage', 'nova.cmd.manage:main',
                '--config-file', R + '/etc/nova/nova.conf', 'cell_v2', 'discover_hosts'], check=True)
while not list(c.placement.resource_providers()):   # compute node registered in placement
    if time.time() > end: raise SystemExit('timeout waiting for placement resource provider')
    time.sleep(1)
while not c.block_storage.get('/scheduler-stats/get_pools').json().get('pools'):  # scheduler knows the backend
    if time.time() > end: raise SystemExit('timeout waiting for cinder-scheduler to see the fake pool')
    time.sleep(1)
print('ready')
EOF

# ---------------------------------------------------------------- 9. seed: the catalog esc-netconf tests use
# The same names as the simulated cloud (esc_netconf/vim/sim/catalog.py), so one deployment XML and one
# conformance catalog serve both: flavors m1.tiny..m1.large, images cirros and ubuntu-22.04 (small raw payloads:
# the fake virt driver never boots them), shared networks net-mgmt 10.10.0.0/16 and net-data 10.20.0.0/16.
# Default quotas are lifted for every project (tests create a project per test).
if [ "${OSREAL_SEED:-1}" = 1 ]; then
  log "seeding flavors, images cirros/ubuntu-22.04, networks net-mgmt/net-data, unlimited default quotas"
  OS_CLIENT_CONFIG_FILE=$R/clouds.yaml $PY "$HERE/seed.py" > $R/logs/seed.out 2>&1 || die "seed (see $R/logs/seed.out)"
fi
touch $R/run/seeded
log "READY: OS_CLIENT_CONFIG_FILE=$R/clouds.yaml, cloud 'local' (admin/admin); logs in $R/logs"
