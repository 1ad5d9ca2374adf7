"""OpenStack's own wording for the errors and faults the simulated cloud produces.

Operators and ESC scripts recognise these sentences, so the simulator uses them verbatim
(from Nova, Glance, Cinder, Neutron and Keystone), with the HTTP status each service answers.
"""

from __future__ import annotations

from esc_netconf.vim.base import VimConflict, VimFailure, VimNotFound

# ---- not found -------------------------------------------------------------------------------


def server_not_found(server_id: str) -> VimNotFound:
    return VimNotFound(f"Instance {server_id} could not be found.")


def image_not_found(image_id: str) -> VimNotFound:
    return VimNotFound(f"No image found with ID {image_id}")


def boot_image_not_found(image_id: str) -> VimNotFound:
    """Nova's answer to a boot request naming an unknown image (it does not name the image; the
    ``openstack`` driver appends the id it asked for, and so does this)."""
    return VimNotFound(f"Can not find requested image ({image_id})")


def volume_not_found(volume_id: str) -> VimNotFound:
    return VimNotFound(f"Volume {volume_id} could not be found.")


def snapshot_not_found(snapshot_id: str) -> VimNotFound:
    return VimNotFound(f"Snapshot {snapshot_id} could not be found.")


def flavor_not_found(flavor: str) -> VimNotFound:
    return VimNotFound(f"Flavor {flavor} could not be found.")


def port_not_found(port_id: str) -> VimNotFound:
    return VimNotFound(f"Port {port_id} could not be found.")


def port_in_use(port_id: str, device_id: str) -> VimConflict:
    return VimConflict(f"Port {port_id} is still in use by device {device_id}.")


def network_not_found(network: str) -> VimNotFound:
    return VimNotFound(f"Network {network} could not be found.")


def project_not_found(project: str) -> VimNotFound:
    return VimNotFound(f"Could not find project: {project}.")


def volume_type_not_found(name: str, *, via_nova: bool = False) -> VimNotFound:
    """Cinder's ``VolumeTypeNotFoundByName``, or Nova's wording when a boot request names the type."""
    if via_nova:
        return VimNotFound(f"Volume type {name} could not be found.")
    return VimNotFound(f"Volume type with name {name} could not be found.")


def attachment_not_found(volume_id: str) -> VimNotFound:
    return VimNotFound(f"No volume Block Device Mapping with id {volume_id}.")


# ---- conflicts ---------------------------------------------------------------------------------


def instance_invalid_state(action: str, server_id: str, attr: str, state: str) -> VimConflict:
    """Nova's ``raise_http_conflict_for_instance_invalid_state``."""
    return VimConflict(f"Cannot '{action}' instance {server_id} while it is in {attr} {state}")


def ip_already_allocated(ip: str, subnet_id: str) -> VimConflict:
    return VimConflict(f"IP address {ip} already allocated in subnet {subnet_id}")


def ip_not_in_subnet(ip: str) -> VimConflict:
    return VimConflict(
        f"Invalid input for operation: IP address {ip} is not a valid IP for the specified subnet.", code=400
    )


def no_more_ips(network_id: str) -> VimConflict:
    return VimConflict(f"No more IP addresses available on network {network_id}.")


def image_not_active(image_id: str) -> VimConflict:
    return VimConflict(f"Image {image_id} is not active.", code=400)


def image_not_downloadable(image_id: str, status: str) -> VimConflict:
    return VimConflict(f"The requested image {image_id} has status {status} and cannot be downloaded.", code=403)


def volume_invalid_status(volume_id: str, status: str, wanted: str) -> VimConflict:
    return VimConflict(f"Invalid volume: Volume {volume_id} status must be {wanted}, but current status is: {status}.", code=400)


def volume_in_use_delete() -> VimConflict:
    return VimConflict(
        "Invalid volume: Volume status must be available or error or error_restoring or error_extending or "
        "error_managing and must not be migrating, attached, belong to a group, have snapshots or be "
        "disassociated from snapshots after volume transfer.",
        code=400,
    )


def volume_has_snapshots(count: int) -> VimConflict:
    return VimConflict(f"Invalid volume: Volume still has {count} dependent snapshots.", code=400)


def snapshot_invalid_status(status: str) -> VimConflict:
    return VimConflict(f"Invalid snapshot: Originating snapshot status must be one of 'available' values (currently {status}).", code=400)


def snapshot_busy(snapshot_id: str, status: str) -> VimConflict:
    return VimConflict(f"Invalid snapshot: Snapshot {snapshot_id} status must be available or error, not {status}.", code=400)


def volume_too_small(size_gb: int, source_gb: int, source: str) -> VimConflict:
    return VimConflict(
        f"Invalid input received: Volume size '{size_gb}'GB cannot be smaller than the {source} size "
        f"{source_gb}GB. They must be >= original {source} size.",
        code=400,
    )


def bad_request(message: str) -> VimFailure:
    return VimFailure(f"Invalid input received: {message}", code=400)


# ---- fault messages (fault mode "error") ---------------------------------------------------

NO_VALID_HOST = "No valid host was found. There are not enough hosts available."


def stop_failed(server_id: str) -> str:
    return f"Failed to power off instance {server_id}: Timeout waiting for the guest to shut down."


def start_failed(server_id: str) -> str:
    return f"Failed to power on instance {server_id}: internal error: process exited while connecting to monitor"


def reboot_failed(server_id: str) -> str:
    return f"Failed to reboot instance {server_id}: libvirt error: Domain not found"


def delete_failed(server_id: str) -> str:
    return f"Failed to terminate instance {server_id}: Failed to delete the instance's disk on the compute host."


FORCED_ERROR = "Instance failed: set to ERROR outside the controller."


def image_delete_failed(image_id: str) -> VimFailure:
    return VimFailure(f"Internal Server Error: failed to delete image {image_id} from the backend store.", code=500)
