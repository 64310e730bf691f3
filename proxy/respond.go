package proxy

import (
	"net/http"

	"github.com/erpgate/erpgate/authority"
)

// badRequest: RFC 6750 §3.1 invalid_request.
func badRequest(w http.ResponseWriter, msg string) {
	authority.WriteRefusal(w, &authority.Refusal{Reason: authority.ReasonInvalidRequest, Detail: msg})
}

func notFound(w http.ResponseWriter) {
	authority.WriteJSONError(w, http.StatusNotFound, authority.ErrorBody{Error: "not_found", Description: "no route matches this request"})
}
