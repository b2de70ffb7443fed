package systemd

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// BusEnv names the environment variable that points virtlxcd-migrate (and
// the test harness) at another systemd than the host's: a D-Bus address
// such as "unix:path=/proc/1234/root/run/dbus/system_bus_socket".
const BusEnv = "VIRTLXCD_MIGRATE_BUS"

// Dial connects to systemd's manager at address, or on the system bus when
// address is empty. An address naming systemd's private socket
// (/run/systemd/private) is spoken to directly, without a bus daemon.
func Dial(ctx context.Context, address string) (*sd.Conn, error) {
	if address == "" {
		conn, err := sd.NewSystemConnectionContext(ctx)
		if err != nil {
			return nil, fmt.Errorf("connect to the system bus: %w", err)
		}
		return conn, nil
	}
	direct := strings.Contains(address, "/run/systemd/private")
	conn, err := sd.NewConnection(func() (*dbus.Conn, error) {
		c, err := dbus.Dial(address, dbus.WithContext(ctx))
		if err != nil {
			return nil, err
		}
		if err := c.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
			c.Close()
			return nil, err
		}
		if !direct {
			if err := c.Hello(); err != nil {
				c.Close()
				return nil, err
			}
		}
		return c, nil
	})
	if err != nil {
		return nil, fmt.Errorf("connect to systemd at %s: %w", address, err)
	}
	return conn, nil
}
