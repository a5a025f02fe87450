package auth_test

import (
	"fmt"

	"github.com/smtpkit/smtpkit/auth"
)

// A client mechanism and a server mechanism talk to each other directly;
// in SMTP the session carries the same bytes, base64-encoded, in AUTH and
// 334 lines.
func Example() {
	passwords := map[string]string{"alice": "correct horse"}
	server, err := auth.NewServer("SCRAM-SHA-256", auth.ServerConfig{
		Password: func(user string) (string, bool) { p, ok := passwords[user]; return p, ok },
	})
	if err != nil {
		panic(err)
	}
	client := auth.SCRAMSHA256("alice", "correct horse")

	mech, resp, err := client.Start()
	if err != nil {
		panic(err)
	}
	fmt.Println("AUTH", mech)
	for {
		challenge, done, err := server.Next(resp)
		if done {
			if err == nil && challenge != nil {
				// SCRAM's last message: the server proves it knows the
				// password too.
				_, err = client.Next(challenge)
			}
			fmt.Println("result:", err)
			break
		}
		if resp, err = client.Next(challenge); err != nil {
			fmt.Println("client:", err)
			break
		}
	}
	fmt.Println("server verified:", client.(auth.ServerVerifier).ServerVerified())
	fmt.Println("identity:", server.Identity())
	fmt.Println("reveals the password:", auth.RevealsSecret(client))
	fmt.Println("needs TLS:", auth.NeedsConfidentiality(client))
	// Output:
	// AUTH SCRAM-SHA-256
	// result: <nil>
	// server verified: true
	// identity: alice
	// reveals the password: false
	// needs TLS: true
}
