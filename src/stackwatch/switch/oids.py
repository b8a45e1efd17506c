"""The MIB objects stackwatch reads from a switch, by numeric OID (no MIB files are loaded).

Each command walks only the columns it needs: ``PORT_COLUMNS`` for ports and rates,
``VLAN_COLUMNS`` for the VLANs of each port, ``LLDP_COLUMNS`` for the neighbours.
"""

from __future__ import annotations

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"

# IF-MIB ifTable and ifXTable
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_ADMIN = "1.3.6.1.2.1.2.2.1.7"
IF_OPER = "1.3.6.1.2.1.2.2.1.8"
IF_IN_DISCARDS = "1.3.6.1.2.1.2.2.1.13"
IF_IN_ERRORS = "1.3.6.1.2.1.2.2.1.14"
IF_OUT_DISCARDS = "1.3.6.1.2.1.2.2.1.19"
IF_OUT_ERRORS = "1.3.6.1.2.1.2.2.1.20"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
IF_HC_IN_OCTETS = "1.3.6.1.2.1.31.1.1.1.6"
IF_HC_OUT_OCTETS = "1.3.6.1.2.1.31.1.1.1.10"
IF_HIGH_SPEED = "1.3.6.1.2.1.31.1.1.1.15"
IF_ALIAS = "1.3.6.1.2.1.31.1.1.1.18"
IF_DISCONTINUITY = "1.3.6.1.2.1.31.1.1.1.19"
IF_STACK_STATUS = "1.3.6.1.2.1.31.1.2.1.3"  # index HigherLayer.LowerLayer: LAG over its members

# counter name -> column; errors and discards are Counter32, octets Counter64
COUNTERS = {
    "in_octets": IF_HC_IN_OCTETS,
    "out_octets": IF_HC_OUT_OCTETS,
    "in_errors": IF_IN_ERRORS,
    "out_errors": IF_OUT_ERRORS,
    "in_discards": IF_IN_DISCARDS,
    "out_discards": IF_OUT_DISCARDS,
}
NAME_COLUMNS = (IF_NAME, IF_DESCR, IF_ALIAS)
PORT_COLUMNS = (
    *NAME_COLUMNS,
    IF_ADMIN,
    IF_OPER,
    IF_HIGH_SPEED,
    *COUNTERS.values(),
    IF_DISCONTINUITY,
)

# CISCO-VTP-MIB vlanTrunkPortTable (index ifIndex)
VTP_TRUNK = "1.3.6.1.4.1.9.9.46.1.6.1.1"
VTP_VLANS_ENABLED = f"{VTP_TRUNK}.4"
VTP_NATIVE = f"{VTP_TRUNK}.5"
VTP_DYNAMIC_STATUS = f"{VTP_TRUNK}.14"  # trunking(1), notTrunking(2)
VTP_VLANS_2K = f"{VTP_TRUNK}.17"
VTP_VLANS_3K = f"{VTP_TRUNK}.18"
VTP_VLANS_4K = f"{VTP_TRUNK}.19"
VTP_BITMAPS = (VTP_VLANS_ENABLED, VTP_VLANS_2K, VTP_VLANS_3K, VTP_VLANS_4K)
VTP_TRUNK_DETAILS = (VTP_NATIVE, *VTP_BITMAPS)  # got for the ports that are trunks only
# CISCO-VLAN-MEMBERSHIP-MIB vmVlan (index ifIndex): the VLAN of an access port
VM_VLAN = "1.3.6.1.4.1.9.9.68.1.2.2.1.2"

# BRIDGE-MIB and Q-BRIDGE-MIB
BASE_PORT_IFINDEX = "1.3.6.1.2.1.17.1.4.1.2"  # dot1dBasePortIfIndex (index bridge port)
QB_CURRENT_EGRESS = "1.3.6.1.2.1.17.7.1.4.2.1.4"  # index TimeMark.VlanIndex
QB_CURRENT_UNTAGGED = "1.3.6.1.2.1.17.7.1.4.2.1.5"
QB_STATIC_EGRESS = "1.3.6.1.2.1.17.7.1.4.3.1.2"  # index VlanIndex
QB_STATIC_UNTAGGED = "1.3.6.1.2.1.17.7.1.4.3.1.4"
QB_PVID = "1.3.6.1.2.1.17.7.1.4.5.1.1"  # dot1qPvid (index bridge port)

VLAN_COLUMNS = (
    VTP_DYNAMIC_STATUS,
    VM_VLAN,
    BASE_PORT_IFINDEX,
    QB_CURRENT_EGRESS,
    QB_CURRENT_UNTAGGED,
    QB_STATIC_EGRESS,
    QB_STATIC_UNTAGGED,
    QB_PVID,
    IF_STACK_STATUS,
)

# LLDP-MIB
LLDP_LOC_PORT_ID = "1.0.8802.1.1.2.1.3.7.1.3"  # index lldpLocPortNum
LLDP_LOC_PORT_DESC = "1.0.8802.1.1.2.1.3.7.1.4"
LLDP_REM = "1.0.8802.1.1.2.1.4.1.1"  # index TimeMark.LocalPortNum.RemIndex
LLDP_REM_CHASSIS_SUBTYPE = f"{LLDP_REM}.4"
LLDP_REM_CHASSIS_ID = f"{LLDP_REM}.5"
LLDP_REM_PORT_SUBTYPE = f"{LLDP_REM}.6"
LLDP_REM_PORT_ID = f"{LLDP_REM}.7"
LLDP_REM_PORT_DESC = f"{LLDP_REM}.8"
LLDP_REM_SYS_NAME = f"{LLDP_REM}.9"

LLDP_LOCAL_COLUMNS = (LLDP_LOC_PORT_ID, LLDP_LOC_PORT_DESC)
LLDP_REMOTE_COLUMNS = (
    LLDP_REM_CHASSIS_SUBTYPE,
    LLDP_REM_CHASSIS_ID,
    LLDP_REM_PORT_SUBTYPE,
    LLDP_REM_PORT_ID,
    LLDP_REM_PORT_DESC,
    LLDP_REM_SYS_NAME,
)
LLDP_COLUMNS = (*LLDP_LOCAL_COLUMNS, *LLDP_REMOTE_COLUMNS, BASE_PORT_IFINDEX)
