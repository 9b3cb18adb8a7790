package wire

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// fakeAgent is the far end of a Client, scripted by the test.
type fakeAgent struct {
	*Conn
	toAgent, toClient *io.PipeWriter
}

func pair(t *testing.T) (*Client, *fakeAgent) {
	t.Helper()
	ar, cw := io.Pipe() // client -> agent
	cr, aw := io.Pipe() // agent -> client
	c := NewClient(cr, cw)
	a := &fakeAgent{Conn: NewConn(ar, aw), toAgent: cw, toClient: aw}
	t.Cleanup(func() {
		cw.Close()
		aw.Close()
		c.Close()
		a.Close()
	})
	return c, a
}

// serve answers each request with what reply returns, until the client
// hangs up; it runs on its own goroutine.
func (a *fakeAgent) serve(reply func(Message) []Message) {
	go func() {
		for {
			m, err := a.NextMessage(context.Background())
			if err != nil {
				return
			}
			for _, r := range reply(m) {
				a.Send(r)
			}
		}
	}()
}

func TestClientDetectsBuildMismatch(t *testing.T) {
	c, a := pair(t)
	a.serve(func(Message) []Message {
		return []Message{&HelloReply{Version: Version, Build: "agentbuild00", Hostname: "web1"}}
	})
	_, err := c.Hello(context.Background(), HelloRequest{Build: "operatorbld0", Host: "web1"})
	var ae *AgentError
	if !errors.As(err, &ae) || ae.Code != CodeBuild {
		t.Fatalf("err = %v, want an AgentError with CodeBuild", err)
	}
	for _, s := range []string{"agentbuild00", "operatorbld0"} {
		if !strings.Contains(ae.Message, s) {
			t.Errorf("message %q does not name %s", ae.Message, s)
		}
	}
}

func TestClientDetectsVersionMismatch(t *testing.T) {
	c, a := pair(t)
	a.serve(func(Message) []Message {
		return []Message{&HelloReply{Version: "9.9.9", Build: "b", Hostname: "web1"}}
	})
	_, err := c.Hello(context.Background(), HelloRequest{Build: "b", Host: "web1"})
	var ae *AgentError
	if !errors.As(err, &ae) || ae.Code != CodeVersion {
		t.Fatalf("err = %v, want CodeVersion", err)
	}
}

// An agent that cannot name its build never counts as a match.
func TestClientRefusesUnknownBuild(t *testing.T) {
	c, a := pair(t)
	a.serve(func(Message) []Message { return []Message{&HelloReply{Version: Version, Hostname: "web1"}} })
	_, err := c.Hello(context.Background(), HelloRequest{Host: "web1"})
	var ae *AgentError
	if !errors.As(err, &ae) || ae.Code != CodeBuild {
		t.Fatalf("err = %v, want CodeBuild", err)
	}
}

func TestClientGarbageBreaksConnection(t *testing.T) {
	c, a := pair(t)
	go func() {
		a.NextMessage(context.Background())
		a.toClient.Write([]byte("Last login: Mon Mar  3 from 10.0.0.1\n"))
	}()
	err := c.Ping(context.Background(), 1)
	if err == nil || !strings.Contains(err.Error(), "is something else writing to stdout?") {
		t.Fatalf("err = %v", err)
	}
	if err := c.Ping(context.Background(), 2); err == nil || !strings.Contains(err.Error(), "unusable") {
		t.Errorf("second request: %v, want the connection unusable", err)
	}
}

func TestClientAgentErrorKeepsConnection(t *testing.T) {
	c, a := pair(t)
	a.serve(func(m Message) []Message {
		switch m := m.(type) {
		case *LockRequest:
			return []Message{&AgentError{Code: CodeStale, Message: "stale", Current: idB}}
		case *Ping:
			return []Message{&Pong{Seq: m.Seq}}
		}
		return nil
	})
	err := c.Lock(context.Background(), LockRequest{Base: idA})
	var ae *AgentError
	if !errors.As(err, &ae) || ae.Code != CodeStale || ae.Current != idB {
		t.Fatalf("err = %#v", err)
	}
	if err := c.Ping(context.Background(), 5); err != nil {
		t.Errorf("ping after an agent error: %v", err)
	}
}

func TestClientCancelledContext(t *testing.T) {
	c, a := pair(t)
	go a.NextMessage(context.Background()) // take the request, never answer
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Ping(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if err := c.Ping(context.Background(), 2); err == nil {
		t.Error("a connection out of step was used again")
	}
}

func TestSendObjectsStreamsInChunks(t *testing.T) {
	c, a := pair(t)
	payload := bytes.Repeat([]byte("0123456789"), ChunkSize/4) // 2.5 chunks
	got := make(chan []byte, 1)
	go func() {
		ctx := context.Background()
		a.NextMessage(ctx)
		data, err := io.ReadAll(a.ReadStream(ctx))
		if err != nil {
			got <- nil
			return
		}
		got <- data
		a.Send(&ObjectsReply{})
	}()
	err := c.SendObjects(context.Background(), func(w io.Writer) error {
		_, err := w.Write(payload)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(<-got, payload) {
		t.Error("the agent received other bytes than were sent")
	}
}

func TestSendObjectsAbortKeepsStreamInStep(t *testing.T) {
	c, a := pair(t)
	a.serve(func(m Message) []Message {
		switch m := m.(type) {
		case *ObjectsRequest:
			err := a.ReadStream(context.Background()).Drain()
			return []Message{Errorf(CodeAborted, "aborted: %v", err)}
		case *Ping:
			return []Message{&Pong{Seq: m.Seq}}
		}
		return nil
	})
	boom := errors.New("pack writer failed")
	err := c.SendObjects(context.Background(), func(w io.Writer) error {
		w.Write([]byte("PACK"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the writer's error", err)
	}
	if err := c.Ping(context.Background(), 9); err != nil {
		t.Errorf("ping after an aborted stream: %v", err)
	}
}

func TestFetchAbortedByAgent(t *testing.T) {
	c, a := pair(t)
	a.serve(func(m Message) []Message {
		switch m := m.(type) {
		case *FetchRequest:
			a.Send(&FetchReply{Current: idA})
			a.WriteStream(func(w io.Writer) error {
				w.Write([]byte("PA"))
				return errors.New("disk on fire")
			})
		case *Ping:
			return []Message{&Pong{Seq: m.Seq}}
		}
		return nil
	})
	_, err := c.Fetch(context.Background(), io.Discard)
	var ae *AgentError
	if !errors.As(err, &ae) || ae.Code != CodeAborted || !strings.Contains(ae.Message, "disk on fire") {
		t.Fatalf("err = %v", err)
	}
	if err := c.Ping(context.Background(), 1); err != nil {
		t.Errorf("ping after an aborted fetch: %v", err)
	}
}

func TestByeAcceptsClosedStream(t *testing.T) {
	c, a := pair(t)
	go func() {
		a.NextMessage(context.Background())
		a.toClient.Close()
	}()
	if err := c.Bye(context.Background()); err != nil {
		t.Errorf("bye: %v", err)
	}
}
