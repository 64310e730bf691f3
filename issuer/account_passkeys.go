package issuer

import (
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/webui"
)

// The account page's passkeys (issue 20), a section of
// accountSecurityPath: the list (name, created, last used), add one with
// a name, rename, remove. Every POST carries the anti-forgery token; the
// last second factor of a user whose policy requires one cannot be
// removed.
const accountPasskeysPath = accountSecurityPath + "/passkeys"

func (s *Server) routeAccountPasskeys() {
	s.mux.HandleFunc("POST "+s.prefix+accountPasskeysPath+"/add", s.handlePasskeyAdd)
	s.mux.HandleFunc("POST "+s.prefix+accountPasskeysPath+"/rename", s.handlePasskeyRename)
	s.mux.HandleFunc("POST "+s.prefix+accountPasskeysPath+"/remove", s.handlePasskeyRemove)
}

// passkeyRow is one passkey as the page lists it.
type passkeyRow struct {
	ID, Name          string // ID: the credential id, base64url
	Created, LastUsed time.Time
	Synced            bool // backup eligible: a synced passkey
	Passwordless      bool // registered with user verification
}

// passkeySection fills d's passkeys and begins a registration; false
// when passkeys are off.
func (s *Server) passkeySection(w http.ResponseWriter, r *http.Request, u *directory.User, d *securityPage) error {
	if s.cfg.Passkeys == nil {
		return nil
	}
	d.PasskeysOn = true
	pu, err := s.newPasskeyUser(r.Context(), u)
	if err != nil {
		return err
	}
	for _, p := range pu.keys {
		d.Passkeys = append(d.Passkeys, passkeyRow{ID: base64.RawURLEncoding.EncodeToString(p.CredentialID), Name: p.Name,
			Created: p.CreatedAt, LastUsed: p.LastUsedAt, Synced: p.BackupEligible, Passwordless: p.UserVerified})
	}
	if len(pu.keys) >= maxPasskeys {
		return nil
	}
	rp, err := s.relyingParty()
	if err != nil {
		return err
	}
	// Resident keys and user verification preferred: any key serves as
	// a second factor; one that is discoverable and verified the user
	// also signs in without a password.
	creation, session, err := rp.BeginRegistration(pu,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementPreferred, UserVerification: protocol.VerificationPreferred}),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementPreferred),
		webauthn.WithExclusions(webauthn.Credentials(pu.WebAuthnCredentials()).CredentialDescriptors()))
	if err != nil {
		return err
	}
	d.PasskeyOptions, err = s.startCeremony(w, ceremonyRegister, u.Login, "", session, creation)
	return err
}

// handlePasskeyAdd finishes a registration begun when the page was
// shown.
func (s *Server) handlePasskeyAdd(w http.ResponseWriter, r *http.Request) {
	a, ok := s.securityForm(w, r)
	if !ok {
		return
	}
	c, ok := s.takeCeremony(w, r, ceremonyRegister, a.user.Login, "")
	refuse := func(reason string) {
		s.mfaAudit(r, nil, audit.MFAFailed, a.user.Login, reason, "passkey", "account")
		s.showSecurity(w, r, a.user, http.StatusBadRequest, securityPage{}, webui.Msg("account.passkeys.error.add"), webui.Text{})
	}
	if !ok {
		refuse("passkey_ceremony_invalid")
		return
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes([]byte(r.PostForm.Get("credential")))
	if err != nil {
		refuse("passkey_malformed")
		return
	}
	pu, err := s.newPasskeyUser(r.Context(), a.user)
	if err != nil {
		s.securityUnavailable(w, r, a.user, "account passkeys", err)
		return
	}
	if len(pu.keys) >= maxPasskeys {
		refuse("passkey_limit")
		return
	}
	rp, err := s.relyingParty()
	if err != nil {
		s.securityUnavailable(w, r, a.user, "account passkeys", err)
		return
	}
	// The handle the options carried, whatever newPasskeyUser drew now.
	pu.handle = c.Session.UserID
	cred, err := rp.CreateCredential(pu, c.Session, parsed)
	if err != nil {
		s.cfg.Logger.InfoContext(r.Context(), "passkey registration refused", "err", err)
		refuse("passkey_invalid")
		return
	}
	transports := make([]string, len(cred.Transport))
	for i, t := range cred.Transport {
		transports[i] = string(t)
	}
	now := s.cfg.Clock()
	key := store.Passkey{CredentialID: cred.ID, Login: a.user.Login, UserHandle: c.Session.UserID, PublicKey: cred.PublicKey,
		SignCount: cred.Authenticator.SignCount, AAGUID: cred.Authenticator.AAGUID, Transports: transports,
		BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState, UserVerified: cred.Flags.UserVerified,
		Name: passkeyName(r.PostForm.Get("name"), s.lang(r, a.user).T("account.passkeys.default_name")), CreatedAt: now}
	if err := s.cfg.Passkeys.SavePasskey(r.Context(), key); errors.Is(err, store.ErrConflict) {
		refuse("passkey_registered")
		return
	} else if err != nil {
		s.securityUnavailable(w, r, a.user, "account passkeys", err)
		return
	}
	s.mfaAudit(r, nil, audit.MFAEnrolled, a.user.Login, "", "passkey", "account")
	s.showSecurity(w, r, a.user, http.StatusOK, securityPage{}, webui.Text{}, webui.Msg("account.passkeys.added", key.Name))
}

// handlePasskeyRename names one of the user's passkeys.
func (s *Server) handlePasskeyRename(w http.ResponseWriter, r *http.Request) {
	a, ok := s.securityForm(w, r)
	if !ok {
		return
	}
	id, ok := credentialID(r.PostForm.Get("id"))
	name := passkeyName(r.PostForm.Get("name"), "")
	if !ok || name == "" {
		s.showSecurity(w, r, a.user, http.StatusBadRequest, securityPage{}, webui.Msg("account.passkeys.error.name"), webui.Text{})
		return
	}
	err := s.cfg.Passkeys.RenamePasskey(r.Context(), a.user.Login, id, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.showSecurity(w, r, a.user, http.StatusNotFound, securityPage{}, webui.Msg("account.passkeys.error.gone"), webui.Text{})
	case err != nil:
		s.securityUnavailable(w, r, a.user, "account passkeys", err)
	default:
		s.showSecurity(w, r, a.user, http.StatusOK, securityPage{}, webui.Text{}, webui.Msg("account.passkeys.renamed", name))
	}
}

// handlePasskeyRemove removes one of the user's passkeys, unless it is
// the last second factor of a user whose policy requires one.
func (s *Server) handlePasskeyRemove(w http.ResponseWriter, r *http.Request) {
	a, ok := s.securityForm(w, r)
	if !ok {
		return
	}
	id, ok := credentialID(r.PostForm.Get("id"))
	if !ok {
		s.showSecurity(w, r, a.user, http.StatusBadRequest, securityPage{}, webui.Msg("account.passkeys.error.gone"), webui.Text{})
		return
	}
	if a.user.MFARequired {
		last, err := s.lastFactor(r, a.user.Login, id)
		if err != nil {
			s.securityUnavailable(w, r, a.user, "account passkeys", err)
			return
		}
		if last {
			s.showSecurity(w, r, a.user, http.StatusConflict, securityPage{}, webui.Msg("account.passkeys.error.last"), webui.Text{})
			return
		}
	}
	err := s.cfg.Passkeys.DeletePasskey(r.Context(), a.user.Login, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.showSecurity(w, r, a.user, http.StatusNotFound, securityPage{}, webui.Msg("account.passkeys.error.gone"), webui.Text{})
	case err != nil:
		s.securityUnavailable(w, r, a.user, "account passkeys", err)
	default:
		s.mfaAudit(r, nil, audit.MFARemoved, a.user.Login, "", "passkey", "account")
		s.showSecurity(w, r, a.user, http.StatusOK, securityPage{}, webui.Text{}, webui.Msg("account.passkeys.removed"))
	}
}

// lastFactor reports whether passkey id is login's only second factor:
// no confirmed TOTP factor and no other passkey.
func (s *Server) lastFactor(r *http.Request, login string, id []byte) (bool, error) {
	f, err := s.cfg.Factors.TOTP(r.Context(), login)
	if err == nil && !f.ConfirmedAt.IsZero() {
		return false, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	keys, err := s.cfg.Passkeys.Passkeys(r.Context(), login)
	if err != nil {
		return false, err
	}
	for _, k := range keys {
		if !samePasskey(k.CredentialID, id) {
			return false, nil
		}
	}
	return true, nil
}
