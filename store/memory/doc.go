// Package memory is an in-process store.Backend: maps behind one mutex.
//
// It keeps nothing across restarts, so it is for tests and for trying
// erpgate out, never for a deployment that holds license slots: a restart
// would forget every open session and revocation (SPEC §5). One mutex
// serialises every call, which is what makes OpenSession's license check
// and insert one step, and RedeemAuthCode and RotateRefreshToken
// single-use; nothing here is on a path hot enough to need more.
package memory
