package admin

import (
	"os/user"
	"strconv"

	"github.com/virtlxcd/virtlxcd/pkg/rpc"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// Typed parameter names of CLIENT_GET_INFO (libvirt-admin.h).
const (
	infoReadonly      = "readonly"
	infoUnixUserID    = "unix_user_id"
	infoUnixUserName  = "unix_user_name"
	infoUnixGroupID   = "unix_group_id"
	infoUnixGroupName = "unix_group_name"
	infoUnixProcessID = "unix_process_id"
)

func (h *handlers) serverListClients(c *rpc.Call) error {
	name := decodeServer(c.Args)
	needResults := c.Args.Uint32()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	s, err := h.server(name)
	if err != nil {
		return err
	}
	if err := checkFlags(flags, 0, "adminServerListClients"); err != nil {
		return err
	}
	clients := s.Clients()
	if len(clients) > clientListMax {
		return virterror.New(virterror.InternalError, virterror.FromAdmin,
			"Too many clients '%d' for limit '%d'", len(clients), clientListMax)
	}
	if needResults != 0 {
		c.Ret.Uint32(uint32(len(clients)))
		for _, cl := range clients {
			encodeClient(c.Ret, clientRef(cl))
		}
	} else {
		c.Ret.Uint32(0)
	}
	c.Ret.Uint32(uint32(len(clients)))
	return nil
}

func (h *handlers) serverLookupClient(c *rpc.Call) error {
	name := decodeServer(c.Args)
	id := c.Args.Uint64()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	s, err := h.server(name)
	if err != nil {
		return err
	}
	if err := checkFlags(flags, 0, "adminServerLookupClient"); err != nil {
		return err
	}
	cl, err := client(s, id)
	if err != nil {
		return err
	}
	encodeClient(c.Ret, clientRef(cl))
	return nil
}

func (h *handlers) clientGetInfo(c *rpc.Call) error {
	ref := decodeClient(c.Args)
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	s, err := h.serverForUpdate(ref.Server)
	if err != nil {
		return err
	}
	cl, ok := s.Client(ref.ID)
	if !ok {
		return virterror.New(virterror.NoClient, virterror.FromAdmin, "no client with matching id '%d' found", ref.ID)
	}
	if err := checkFlags(flags, 0, "adminClientGetInfo"); err != nil {
		return err
	}
	EncodeParams(c.Ret, clientInfo(cl))
	return nil
}

// clientInfo lists what libvirt reports for a local (UNIX socket) client:
// the read-only flag and the peer's SO_PEERCRED identity, with names where
// the user and group databases know them.
func clientInfo(cl *rpc.Client) []Param {
	params := []Param{BoolParam(infoReadonly, cl.ReadOnly())}
	cred := cl.Cred
	if cred.PID < 0 {
		return params
	}
	params = append(params, IntParam(infoUnixUserID, int64(cred.UID)))
	if u, err := user.LookupId(strconv.FormatUint(uint64(cred.UID), 10)); err == nil {
		params = append(params, StringParam(infoUnixUserName, u.Username))
	}
	params = append(params, IntParam(infoUnixGroupID, int64(cred.GID)))
	if g, err := user.LookupGroupId(strconv.FormatUint(uint64(cred.GID), 10)); err == nil {
		params = append(params, StringParam(infoUnixGroupName, g.Name))
	}
	return append(params, IntParam(infoUnixProcessID, int64(cred.PID)))
}

func (h *handlers) clientClose(c *rpc.Call) error {
	ref := decodeClient(c.Args)
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	s, err := h.server(ref.Server)
	if err != nil {
		return err
	}
	cl, err := client(s, ref.ID)
	if err != nil {
		return err
	}
	if err := checkFlags(flags, 0, "adminClientClose"); err != nil {
		return err
	}
	h.log.Info("disconnecting client on admin request", "server", s.Name, "id", cl.ID, "pid", cl.Cred.PID, "by", c.Client.ID)
	if cl == c.Client {
		// Closing the caller itself: let the reply reach it first.
		c.AfterReply(cl.Close)
		return nil
	}
	cl.Close()
	return nil
}
