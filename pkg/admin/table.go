package admin

import "github.com/virtlxcd/virtlxcd/pkg/rpc"

// procedures is the admin program's dispatch table: every procedure of
// libvirt 9.0's admin_protocol.x with its public API name. Admin
// connections are never read-only, so no row is marked Write.
func procedures(h *handlers) []rpc.Procedure {
	return []rpc.Procedure{
		{Num: 1, Name: "CONNECT_OPEN", API: "virAdmConnectOpen", Handler: h.connectOpen},
		{Num: 2, Name: "CONNECT_CLOSE", API: "virAdmConnectClose", Handler: h.connectClose},
		{Num: 3, Name: "CONNECT_GET_LIB_VERSION", API: "virAdmConnectGetLibVersion", Handler: h.connectGetLibVersion},
		{Num: 4, Name: "CONNECT_LIST_SERVERS", API: "virAdmConnectListServers", Handler: h.connectListServers},
		{Num: 5, Name: "CONNECT_LOOKUP_SERVER", API: "virAdmConnectLookupServer", Handler: h.connectLookupServer},
		{Num: 6, Name: "SERVER_GET_THREADPOOL_PARAMETERS", API: "virAdmServerGetThreadPoolParameters", Handler: h.serverGetThreadpoolParameters},
		{Num: 7, Name: "SERVER_SET_THREADPOOL_PARAMETERS", API: "virAdmServerSetThreadPoolParameters", Handler: h.serverSetThreadpoolParameters},
		{Num: 8, Name: "SERVER_LIST_CLIENTS", API: "virAdmServerListClients", Handler: h.serverListClients},
		{Num: 9, Name: "SERVER_LOOKUP_CLIENT", API: "virAdmServerLookupClient", Handler: h.serverLookupClient},
		{Num: 10, Name: "CLIENT_GET_INFO", API: "virAdmClientGetInfo", Handler: h.clientGetInfo},
		{Num: 11, Name: "CLIENT_CLOSE", API: "virAdmClientClose", Handler: h.clientClose},
		{Num: 12, Name: "SERVER_GET_CLIENT_LIMITS", API: "virAdmServerGetClientLimits", Handler: h.serverGetClientLimits},
		{Num: 13, Name: "SERVER_SET_CLIENT_LIMITS", API: "virAdmServerSetClientLimits", Handler: h.serverSetClientLimits},
		{Num: 14, Name: "CONNECT_GET_LOGGING_OUTPUTS", API: "virAdmConnectGetLoggingOutputs", Handler: h.connectGetLoggingOutputs},
		{Num: 15, Name: "CONNECT_GET_LOGGING_FILTERS", API: "virAdmConnectGetLoggingFilters", Handler: h.connectGetLoggingFilters},
		{Num: 16, Name: "CONNECT_SET_LOGGING_OUTPUTS", API: "virAdmConnectSetLoggingOutputs", Handler: h.connectSetLoggingOutputs},
		{Num: 17, Name: "CONNECT_SET_LOGGING_FILTERS", API: "virAdmConnectSetLoggingFilters", Handler: h.connectSetLoggingFilters},
		{Num: 18, Name: "SERVER_UPDATE_TLS_FILES", API: "virAdmServerUpdateTlsFiles", Handler: h.serverUpdateTLSFiles},
		{Num: 19, Name: "CONNECT_SET_DAEMON_TIMEOUT", API: "virAdmConnectSetDaemonTimeout", Handler: h.connectSetDaemonTimeout},
	}
}
