package store

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"golang.org/x/crypto/ssh"
)

// SSH signatures in OpenSSH's SSHSIG format (PROTOCOL.sshsig), the format
// `git -c gpg.format=ssh` writes and `git verify-commit` checks. Written
// here on x/crypto/ssh rather than by running ssh-keygen per commit: a
// deploy signs once, in process, through the same agent it logs in with.

const (
	sshsigMagic   = "SSHSIG"
	sshsigVersion = 1
	sshsigHash    = "sha512"
	armorBegin    = "-----BEGIN SSH SIGNATURE-----"
	armorEnd      = "-----END SSH SIGNATURE-----"
	// GitNamespace is the namespace Git signs commits in.
	GitNamespace = "git"
)

// sshsigSignedData is what the key signs: the namespace and the message's
// hash, so a signature made for one purpose never passes for another.
type sshsigSignedData struct {
	Magic     [6]byte
	Namespace string
	Reserved  string
	Hash      string
	Digest    string
}

type sshsigBlob struct {
	Magic     [6]byte
	Version   uint32
	PublicKey string
	Namespace string
	Reserved  string
	Hash      string
	Signature string
}

func signedData(namespace string, message []byte) []byte {
	d := sha512.Sum512(message)
	sd := sshsigSignedData{Namespace: namespace, Hash: sshsigHash, Digest: string(d[:])}
	copy(sd.Magic[:], sshsigMagic)
	return ssh.Marshal(sd)
}

// SignSSH signs message in namespace with signer and returns the armored
// SSHSIG signature.
func SignSSH(signer ssh.Signer, namespace string, message []byte) ([]byte, error) {
	data := signedData(namespace, message)
	var sig *ssh.Signature
	var err error
	pub := signer.PublicKey()
	if isRSA(pub) {
		// OpenSSH refuses SHA-1 RSA signatures in SSHSIG.
		as, ok := signer.(ssh.AlgorithmSigner)
		if !ok {
			return nil, fmt.Errorf("key %s cannot make rsa-sha2-512 signatures", ssh.FingerprintSHA256(pub))
		}
		sig, err = as.SignWithAlgorithm(rand.Reader, data, ssh.KeyAlgoRSASHA512)
	} else {
		sig, err = signer.Sign(rand.Reader, data)
	}
	if err != nil {
		return nil, fmt.Errorf("sign with %s %s: %w", pub.Type(), ssh.FingerprintSHA256(pub), err)
	}
	blob := sshsigBlob{Version: sshsigVersion, PublicKey: string(pub.Marshal()), Namespace: namespace,
		Hash: sshsigHash, Signature: string(ssh.Marshal(sig))}
	copy(blob.Magic[:], sshsigMagic)
	return armor(ssh.Marshal(blob)), nil
}

func isRSA(pub ssh.PublicKey) bool {
	if c, ok := pub.(*ssh.Certificate); ok {
		pub = c.Key
	}
	return pub.Type() == ssh.KeyAlgoRSA
}

func armor(blob []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(blob)
	var b bytes.Buffer
	b.WriteString(armorBegin + "\n")
	for len(enc) > 70 {
		b.WriteString(enc[:70] + "\n")
		enc = enc[70:]
	}
	b.WriteString(enc + "\n" + armorEnd + "\n")
	return b.Bytes()
}

// VerifySSH checks an armored SSHSIG signature of message in namespace
// and returns the key that made it (an *ssh.Certificate when the signer
// used one). It says nothing of whether that key is trusted: the caller
// decides.
func VerifySSH(armored []byte, namespace string, message []byte) (ssh.PublicKey, error) {
	s := strings.TrimSpace(string(armored))
	body, ok := strings.CutPrefix(s, armorBegin)
	if !ok {
		return nil, errors.New("not an SSH signature")
	}
	if body, ok = strings.CutSuffix(body, armorEnd); !ok {
		return nil, errors.New("SSH signature: no end line")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body), ""))
	if err != nil {
		return nil, fmt.Errorf("SSH signature: %w", err)
	}
	var blob sshsigBlob
	if err := ssh.Unmarshal(raw, &blob); err != nil {
		return nil, fmt.Errorf("SSH signature: %w", err)
	}
	if string(blob.Magic[:]) != sshsigMagic || blob.Version != sshsigVersion {
		return nil, errors.New("SSH signature: not SSHSIG version 1")
	}
	if blob.Namespace != namespace {
		return nil, fmt.Errorf("SSH signature is for namespace %q, not %q", blob.Namespace, namespace)
	}
	if blob.Hash != sshsigHash && blob.Hash != "sha256" {
		return nil, fmt.Errorf("SSH signature: unknown hash %q", blob.Hash)
	}
	pub, err := ssh.ParsePublicKey([]byte(blob.PublicKey))
	if err != nil {
		return nil, fmt.Errorf("SSH signature: %w", err)
	}
	var sig ssh.Signature
	if err := ssh.Unmarshal([]byte(blob.Signature), &sig); err != nil {
		return nil, fmt.Errorf("SSH signature: %w", err)
	}
	if sig.Format == ssh.KeyAlgoRSA {
		return nil, errors.New("SSH signature: SHA-1 RSA signatures are not accepted")
	}
	var digest []byte
	if blob.Hash == "sha256" {
		d := sha256.Sum256(message)
		digest = d[:]
	} else {
		d := sha512.Sum512(message)
		digest = d[:]
	}
	sd := sshsigSignedData{Namespace: namespace, Hash: blob.Hash, Digest: string(digest)}
	copy(sd.Magic[:], sshsigMagic)
	if err := pub.Verify(ssh.Marshal(sd), &sig); err != nil {
		return nil, fmt.Errorf("SSH signature by %s does not match: %w", ssh.FingerprintSHA256(pub), err)
	}
	return pub, nil
}

// SplitSigned separates a raw commit object's content into the payload a
// signature covers (the commit without its gpgsig header, as Git computes
// it) and the signature; sig is nil for an unsigned commit.
func SplitSigned(raw []byte) (payload, sig []byte) {
	head, msg, ok := bytes.Cut(raw, []byte("\n\n"))
	if !ok {
		head, msg = raw, nil
	}
	var out bytes.Buffer
	lines := bytes.SplitAfter(head, []byte("\n"))
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if v, ok := bytes.CutPrefix(l, []byte("gpgsig ")); ok && sig == nil {
			sig = append(sig, bytes.TrimSuffix(v, []byte("\n"))...)
			sig = append(sig, '\n')
			for i+1 < len(lines) && bytes.HasPrefix(lines[i+1], []byte(" ")) {
				i++
				sig = append(sig, bytes.TrimSuffix(lines[i][1:], []byte("\n"))...)
				sig = append(sig, '\n')
			}
			continue
		}
		out.Write(l)
	}
	if ok {
		if !bytes.HasSuffix(out.Bytes(), []byte("\n")) {
			out.WriteByte('\n')
		}
		out.WriteString("\n")
		out.Write(msg)
	}
	return out.Bytes(), sig
}

// SignCommit is how a deploy commit gets its signature: it is given the
// commit's payload and returns the armored signature for the gpgsig
// header.
type SignCommit func(payload []byte) ([]byte, error)

// SignerFunc signs with an SSH key in Git's namespace.
func SignerFunc(signer ssh.Signer) SignCommit {
	return func(payload []byte) ([]byte, error) { return SignSSH(signer, GitNamespace, payload) }
}

// CommitSigned is Commit with the deploy commit signed by sign, its
// message ending with the trailer that names tree's host index (see
// HostIndex). A sign that fails fails the commit: nothing is written and
// main does not move.
func (s *Store) CommitSigned(tree ID, message, operator string, when time.Time, sign SignCommit) (ID, error) {
	if sign == nil {
		return s.Commit(tree, message, operator, when)
	}
	index, err := s.HostIndex(tree)
	if err != nil {
		return ZeroID, err
	}
	if message, err = withHostsTrailer(message, index.ID); err != nil {
		return ZeroID, err
	}
	return s.update(MainRef, true, func(parent ID, ok bool) (ID, error) {
		var parents []ID
		if ok {
			parents = []ID{parent}
		}
		return s.writeSignedCommit(tree, parents, message, operator, when, sign)
	})
}

// writeSignedCommit writes a commit signed by sign, as Git signs one.
func (s *Store) writeSignedCommit(tree ID, parents []ID, message, operator string, when time.Time, sign SignCommit) (ID, error) {
	c := newCommit(tree, parents, message, operator, when)
	payload := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(payload); err != nil {
		return ZeroID, fmt.Errorf("store: encode commit: %w", err)
	}
	data, err := readAll(payload)
	if err != nil {
		return ZeroID, err
	}
	sig, err := sign(data)
	if err != nil {
		return ZeroID, fmt.Errorf("%w: nothing was committed or deployed (check that the key is in ssh-agent and usable, or choose another with DEPTOOL_SIGNING_KEY)", err)
	}
	c.PGPSignature = string(sig)
	obj := &plumbing.MemoryObject{}
	if err := c.Encode(obj); err != nil {
		return ZeroID, fmt.Errorf("store: encode commit: %w", err)
	}
	return s.put(obj)
}

func newCommit(tree ID, parents []ID, message, operator string, when time.Time) *object.Commit {
	name, _, _ := strings.Cut(operator, "@")
	sig := object.Signature{Name: name, Email: operator, When: when}
	return &object.Commit{Author: sig, Committer: sig, Message: message, TreeHash: tree.Hash(), ParentHashes: hashes(parents)}
}

func readAll(obj plumbing.EncodedObject) ([]byte, error) {
	r, err := obj.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(r)
	return b.Bytes(), err
}

// RawObject returns an object's content as Git hashes it (without the
// "type size" header): what a host is sent to check a signature itself.
func (s *Store) RawObject(id ID) ([]byte, error) {
	s.objMu.Lock()
	obj, err := s.objects.EncodedObject(plumbing.AnyObject, id.Hash())
	s.objMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("store: read object %s: %w", id, err)
	}
	return readAll(obj)
}

// CommitSignature checks the signature of commit id: the key that signed
// it, or nil and no error when it is unsigned. An error means a signature
// is there and does not verify.
func (s *Store) CommitSignature(id ID) (ssh.PublicKey, error) {
	raw, err := s.RawObject(id)
	if err != nil {
		return nil, err
	}
	payload, sig := SplitSigned(raw)
	if sig == nil {
		return nil, nil
	}
	return VerifySSH(sig, GitNamespace, payload)
}

// RequireSignatures reports the store's deptool.requireSignatures: on,
// every deploy must be signed and every host refuses unsigned ones; off
// (stores made before signing existed), a host refuses unsigned deploys
// only once it has run a signed one. `deptool init` turns it on.
func (s *Store) RequireSignatures() (bool, error) {
	v, err := s.Config("requiresignatures")
	if err != nil || v == "" {
		return false, err
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("store: deptool.requireSignatures = %q: want true or false", v)
	}
	return b, nil
}

// SetRequireSignatures sets deptool.requireSignatures.
func (s *Store) SetRequireSignatures(on bool) error {
	return s.setConfig("requiresignatures", strconv.FormatBool(on))
}

// SigningKeyConfig is the store's deptool.signingKey: the key deploys
// are signed with when DEPTOOL_SIGNING_KEY does not name one.
func (s *Store) SigningKeyConfig() (string, error) { return s.Config("signingkey") }

// AllowedSignersName is the store's file of the keys whose deploys the
// operator trusts, in Git's allowed-signers format, so that the same file
// serves `git verify-commit` (gpg.ssh.allowedSignersFile).
const AllowedSignersName = "allowed_signers"

// AllowedSigners reads the keys the operator trusts to have signed
// deploys (see Signers).
func (s *Store) AllowedSigners() ([]ssh.PublicKey, error) {
	list, err := s.Signers()
	if err != nil {
		return nil, err
	}
	keys := make([]ssh.PublicKey, len(list))
	for i, a := range list {
		keys[i] = a.Key
	}
	return keys, nil
}

// Signers is whom the operator trusts to have signed deploys: the team's
// list (SignersRef) when the store keeps one, else the store's own
// allowed_signers file (stores from before the list travelled); none in
// a store with neither.
func (s *Store) Signers() ([]AllowedSigner, error) {
	list, _, ok, err := s.TeamSigners()
	if err != nil || ok {
		return list, err
	}
	return s.localSigners()
}

// AddAllowedSigner adds key, as principal, to the store's trusted signers.
func (s *Store) AddAllowedSigner(principal string, key ssh.PublicKey) error {
	if s.path == "" {
		return errors.New("store: an in-memory store keeps no allowed signers")
	}
	key = CertifiedKey(key)
	keys, err := s.AllowedSigners()
	if err != nil {
		return err
	}
	for _, k := range keys {
		if bytes.Equal(k.Marshal(), key.Marshal()) {
			return nil
		}
	}
	f, err := os.OpenFile(filepath.Join(s.path, AllowedSignersName), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	_, err = fmt.Fprintf(f, "%s namespaces=\"git\" %s", principal, ssh.MarshalAuthorizedKey(key))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
