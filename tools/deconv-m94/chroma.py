import sys, numpy as np
sys.path.insert(0,__import__('os').path.dirname(__file__))
from fits import read
dec,_=read(sys.argv[1]); mean,_=read(sys.argv[2])
r=mean[1]; med=np.median(r); sig=1.4826*np.median(np.abs(r-med))
sky=(r<med+2*sig); sky2=sky[:,:-1]&sky[:,1:]
f=lambda v:1.4826*np.median(np.abs(v-np.median(v)))
for name,a in (("mean",mean),("deconv",dec)):
    d=[((a[c][:,:-1]-a[c][:,1:])[sky2])/np.sqrt(2) for c in range(3)]
    n=[f(x) for x in d]
    cc=np.corrcoef(np.clip(d[0],-5*n[0],5*n[0]),np.clip(d[1],-5*n[1],5*n[1]))[0,1]
    cb=np.corrcoef(np.clip(d[2],-5*n[2],5*n[2]),np.clip(d[1],-5*n[1],5*n[1]))[0,1]
    print(name,"noise R G B %.2f %.2f %.2f; corr(R,G) %.3f corr(B,G) %.3f; R-G %.2f"%(n[0],n[1],n[2],cc,cb,f(d[0]-d[1])))
print("2x2 binned:")
H,W=mean.shape[1]//2*2,mean.shape[2]//2*2
b=lambda a:a[:,:H:2,:W:2]+a[:,1:H:2,:W:2]+a[:,:H:2,1:W:2]+a[:,1:H:2,1:W:2]
mb,db=b(mean),b(dec)
r=mb[1]; med=np.median(r); sig=1.4826*np.median(np.abs(r-med))
sky=(r<med+2*sig); sky2=sky[:,:-1]&sky[:,1:]
for name,a in (("mean",mb),("deconv",db)):
    d=[((a[c][:,:-1]-a[c][:,1:])[sky2])/np.sqrt(2) for c in range(3)]
    n=[f(x) for x in d]
    cc=np.corrcoef(np.clip(d[0],-5*n[0],5*n[0]),np.clip(d[1],-5*n[1],5*n[1]))[0,1]
    print(name,"noise R G B %.2f %.2f %.2f; corr(R,G) %.3f; R-G %.2f"%(n[0],n[1],n[2],cc,f(d[0]-d[1])))
