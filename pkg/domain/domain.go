// Package domain holds the driver-neutral vocabulary shared by the LXC
// driver and the remote program: domain references, states and their
// reasons, lifecycle events and list flags, with libvirt's numbering.
package domain

// Ref identifies a domain the way remote_nonnull_domain does. ID is -1
// while the domain is not running; virsh decides "already active" from it.
type Ref struct {
	Name string
	UUID [16]byte
	ID   int32
}

// State is virDomainState.
type State int32

const (
	NoState     State = 0
	Running     State = 1
	Blocked     State = 2
	Paused      State = 3
	ShutDown    State = 4 // being shut down
	Shutoff     State = 5
	Crashed     State = 6
	PMSuspended State = 7
)

// Reasons for Running.
const (
	RunningUnknown  = 0
	RunningBooted   = 1
	RunningUnpaused = 5
)

// Reasons for Paused.
const (
	PausedUnknown = 0
	PausedUser    = 1
)

// Reasons for Shutoff.
const (
	ShutoffUnknown   = 0
	ShutoffShutdown  = 1
	ShutoffDestroyed = 2
	ShutoffCrashed   = 3
	ShutoffFailed    = 6
	ShutoffDaemon    = 8
)

// Info is what virDomainGetInfo returns.
type Info struct {
	State     State
	MaxMemKiB uint64
	MemoryKiB uint64
	NrVirtCPU uint16
	CPUTimeNs uint64
}

// Event ids (virDomainEventID) the driver emits.
const (
	EventIDLifecycle = 0
	EventIDReboot    = 1
	EventIDMetadata  = 23 // METADATA_CHANGE: Detail is the metadata type, URI the namespace
	EventIDLast      = 27 // number of ids libvirt 9.0 knows
)

// Lifecycle event types (virDomainEventType) and details.
const (
	EventDefined   = 0
	EventUndefined = 1
	EventStarted   = 2
	EventSuspended = 3
	EventResumed   = 4
	EventStopped   = 5
	EventShutdown  = 6

	DetailDefinedAdded   = 0
	DetailDefinedUpdated = 1

	DetailUndefinedRemoved = 0

	DetailStartedBooted = 0

	DetailSuspendedPaused = 0
	DetailResumedUnpaused = 0

	DetailStoppedShutdown  = 0
	DetailStoppedDestroyed = 1
	DetailStoppedCrashed   = 2
	DetailStoppedFailed    = 5

	DetailShutdownFinished = 0
)

// Event is one domain event. For EventIDReboot, Event and Detail are unused.
type Event struct {
	ID     int32
	Dom    Ref
	Event  int32
	Detail int32
	URI    string // EventIDMetadata: the element's namespace ("" = none)
}

// Metadata kinds (virDomainMetadataType).
const (
	MetadataDescription = 0
	MetadataTitle       = 1
	MetadataElement     = 2
)

// Flags of virConnectListAllDomains.
const (
	ListActive      = 1 << 0
	ListInactive    = 1 << 1
	ListPersistent  = 1 << 2
	ListTransient   = 1 << 3
	ListRunning     = 1 << 4
	ListPaused      = 1 << 5
	ListShutoff     = 1 << 6
	ListOther       = 1 << 7
	ListManagedSave = 1 << 8
	ListNoManaged   = 1 << 9
	ListAutostart   = 1 << 10
	ListNoAutostart = 1 << 11
	ListSnapshot    = 1 << 12
	ListNoSnapshot  = 1 << 13
	ListCheckpoint  = 1 << 14
	ListNoCheckpt   = 1 << 15
)

// Flags of virDomainGetXMLDesc.
const (
	XMLSecure     = 1 << 0
	XMLInactive   = 1 << 1
	XMLUpdateCPU  = 1 << 2
	XMLMigratable = 1 << 3
)

// Flags of the memory/affect APIs (virDomainModificationImpact).
const (
	AffectCurrent = 0
	AffectLive    = 1 << 0
	AffectConfig  = 1 << 1
	MemMaximum    = 1 << 2
)

// Flags of virDomainUndefineFlags that the LXC driver accepts.
const (
	UndefineManagedSave = 1 << 0
	UndefineSnapshots   = 1 << 1
	UndefineNVRAM       = 1 << 2
	UndefineKeepNVRAM   = 1 << 3
	UndefineCheckpoints = 1 << 4
)

// Flags of shutdown/reboot.
const (
	ShutdownDefault = 0
	ShutdownInitctl = 1 << 2
	ShutdownSignal  = 1 << 3
)

// Flags of destroy.
const (
	DestroyDefault  = 0
	DestroyGraceful = 1 << 0
)

// Flags of define (virDomainDefineFlags) and start/create
// (virDomainCreateFlags).
const (
	DefineValidate    = 1 << 0
	CreatePaused      = 1 << 0
	CreateAutodestroy = 1 << 1
	CreateBypassCache = 1 << 2
	CreateForceBoot   = 1 << 3
	CreateValidate    = 1 << 4
)
