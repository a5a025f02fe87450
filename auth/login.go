package auth

// login is the LOGIN mechanism (draft-murchison-sasl-login): the server
// asks "Username:" then "Password:", and the client answers each.
type login struct {
	username, password string
	step               int
}

// Login returns the LOGIN mechanism, which many servers offer for old
// clients. It sends the password itself: sessions refuse it without TLS
// except to loopback (see [NeedsConfidentiality]). It answers the first challenge with the user name
// and the second with the password, whatever their text says.
func Login(username, password string) Mechanism {
	return &login{username: username, password: password}
}

func (l *login) RevealsSecret() bool { return true }

func (l *login) NeedsConfidentiality() bool { return true }

func (l *login) Start() (string, []byte, error) {
	if l.step != 0 {
		return "", nil, errReused("LOGIN")
	}
	if l.username == "" {
		return "", nil, badInput("LOGIN", "empty user name")
	}
	l.step = 1
	return "LOGIN", nil, nil
}

func (l *login) Next(challenge []byte) ([]byte, error) {
	if len(challenge) > MaxChallengeLength {
		return nil, ErrChallengeTooLong
	}
	switch l.step {
	case 1:
		l.step = 2
		return []byte(l.username), nil
	case 2:
		l.step = 3
		return []byte(l.password), nil
	}
	return nil, ErrUnexpectedChallenge
}

// loginServer verifies LOGIN.
type loginServer struct {
	cfg      ServerConfig
	step     int
	user     string
	identity string
}

func newLoginServer(cfg ServerConfig) *loginServer { return &loginServer{cfg: cfg} }

func (s *loginServer) Identity() string { return s.identity }

func (s *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch s.step {
	case 0:
		s.step = 1
		if len(resp) == 0 {
			return []byte("Username:"), false, nil
		}
		// Some clients send the user name as an initial response.
		s.user = string(resp)
		s.step = 2
		return []byte("Password:"), false, nil
	case 1:
		s.user = string(resp)
		s.step = 2
		return []byte("Password:"), false, nil
	case 2:
		s.step = 3
		if !s.cfg.check(s.user, string(resp)) {
			return nil, true, ErrInvalidCredentials
		}
		s.identity = s.user
		return nil, true, nil
	}
	return nil, true, protoErr("LOGIN", "exchange is over")
}
