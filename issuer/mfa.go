package issuer

// The acr values (OIDC Core §2) a sign-in reaches: one factor, or two.
const (
	acrPassword = "pwd"
	acrMFA      = "mfa"
)
